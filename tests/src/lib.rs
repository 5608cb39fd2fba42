//! Helpers shared by Carnet's end-to-end tests: starting a real server on port 0,
//! simulated devices, and the JS automerge-repo peers.
#![forbid(unsafe_code)]
