//! Unit tests of the reconstruction.
