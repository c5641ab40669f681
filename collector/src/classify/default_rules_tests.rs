//! Classification of real vendors and mDNS signals with the default rules.
