//! The forensics commands (`sessions`, `verify`, `export`) run as a user would: the real
//! `kubewitness` binary over recordings that real `/usr/bin/kubectl` sessions produced
//! through a testbed, a demo killed with SIGKILL mid-session, and an S3 store with Object
//! Lock served by `moto_server`.

use kubewitness_test_support::kubectl as support;

mod bin;

mod crash;
mod digests;
mod export;
mod grants;
mod ledger;
mod s3;
mod s3_digests;
mod sessions;
mod verify;
