//! The evaluation corpus (generated at run time) and its test: recall per family and no
//! finding on look-alikes.

mod eval;
pub(crate) mod families;
pub(crate) mod k8s;

use crate::support::{Gen, Planted};

/// One planted line per corpus family, for the table and streaming tests.
pub(crate) fn positives(g: &mut Gen) -> Vec<Planted> {
    families::families()
        .into_iter()
        .map(|f| {
            let (token, secret) = (f.token)(g);
            let (_, text) = families::lines(f.place, &token).swap_remove(0);
            Planted {
                text,
                secret,
                rule: f.rule,
            }
        })
        .collect()
}
