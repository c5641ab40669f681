//! The clinical scan policy: what each site's agents must never probe actively.

mod channels;

pub use channels::PolicyChannels;
