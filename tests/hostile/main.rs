//! The hostile-agent test, in a test binary of its own: it measures an honest agent's latency
//! while every attack runs, so no other test may share the machine's two cores with it
//! (libtest runs a binary's tests in parallel; binaries run one after another).

#![forbid(unsafe_code)]

mod hostile;
// Shared with the e2e binary, which uses all of it.
#[path = "../e2e/site.rs"]
#[allow(dead_code)]
mod site;
