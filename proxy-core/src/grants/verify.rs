//! Verifying grant objects (`grants/<id>/…`, the access requests' steps), after
//! [`verify_store`](crate::record::verify_store): each request's objects
//! parse, are signed by a trusted key, sit under the names their content says and name
//! their request object's hash; a `use` follows a complete approval within its TTL; and
//! every grant object a trusted digest lists is present with the listed hash.

use std::collections::BTreeMap;

use ed25519_dalek::VerifyingKey;

use super::object::{GRANTS_DIR, GrantObject, MAX_GRANT_OBJECT_LEN, folder, valid_id};
use super::state::Story;
use crate::record::store::RecordStore;
use crate::record::{GrantReport, StoreCheck, StoreFinding, StoreReport};

/// Checks the access requests of the store `report` is about (created in `check`'s range)
/// and the grant objects its trusted digests list; adds what it finds to `report`.
pub async fn check_store(
    store: &RecordStore,
    report: &mut StoreReport,
    check: &StoreCheck,
    tick: &(dyn Fn() + Sync),
) -> Result<(), String> {
    let (grants, found) = check_grants(
        store,
        &report.trusted_keys,
        &report.listed_grants,
        &|ms| check.since_ms.is_none_or(|s| ms >= s) && check.until_ms.is_none_or(|u| ms <= u),
        tick,
    )
    .await?;
    report.grants = grants;
    report.findings.extend(found);
    report.findings.sort();
    report.findings.dedup();
    Ok(())
}

/// Checks every request under `grants/` created in range; `listed` is what trusted digests
/// list (name → (instance, digest seq, sha256)).
async fn check_grants(
    store: &RecordStore,
    trusted: &[VerifyingKey],
    listed: &BTreeMap<String, (String, u64, String)>,
    in_range: &(dyn Fn(u64) -> bool + Sync),
    tick: &(dyn Fn() + Sync),
) -> Result<(Vec<GrantReport>, Vec<StoreFinding>), String> {
    let ids = store
        .folders(Some(GRANTS_DIR))
        .await
        .map_err(|e| e.to_string())?;
    let mut reports = Vec::new();
    let mut findings = Vec::new();
    let mut present = BTreeMap::new();
    for id in ids {
        if !valid_id(&id) {
            findings.push(modified(&folder(&id), "not an access request id"));
            continue;
        }
        if !in_range(ulid::Ulid::from_string(&id).map_or(0, |u| u.timestamp_ms())) {
            continue;
        }
        let (report, mut found) = check_one(store, &id, trusted, &mut present, tick).await;
        findings.append(&mut found);
        reports.push(report);
    }
    for (name, (instance, digest, sha)) in listed {
        let in_scope = name
            .split('/')
            .nth(1)
            .and_then(|id| ulid::Ulid::from_string(id).ok())
            .is_none_or(|u| in_range(u.timestamp_ms()));
        match present.get(name) {
            _ if !in_scope => {}
            None => findings.push(StoreFinding::GrantMissing {
                object: name.clone(),
                instance: instance.clone(),
                digest: *digest,
            }),
            Some(h) if h != sha => findings.push(modified(
                name,
                &format!("not the object digest {instance}/{digest} lists"),
            )),
            Some(_) => {}
        }
    }
    Ok((reports, findings))
}

fn modified(object: &str, detail: &str) -> StoreFinding {
    StoreFinding::GrantModified {
        object: object.to_string(),
        detail: detail.to_string(),
    }
}

/// One request: every object read and checked, then the story they tell.
async fn check_one(
    store: &RecordStore,
    id: &str,
    trusted: &[VerifyingKey],
    present: &mut BTreeMap<String, String>,
    tick: &(dyn Fn() + Sync),
) -> (GrantReport, Vec<StoreFinding>) {
    let dir = folder(id);
    let mut report = GrantReport {
        id: id.to_string(),
        ..GrantReport::default()
    };
    let mut findings = Vec::new();
    let leaves = match store.objects(&dir).await {
        Ok(l) => l,
        Err(e) => return (report, vec![modified(&dir, &e.to_string())]),
    };
    let mut objects = Vec::new();
    for leaf in leaves {
        tick();
        report.objects += 1;
        let name = format!("{dir}/{leaf}");
        match read(store, &name, trusted).await {
            Ok(o) => {
                present.insert(name, o.sha256.clone());
                objects.push((leaf, o));
            }
            Err(e) => findings.push(modified(&name, &e)),
        }
    }
    if findings.is_empty() {
        match Story::assemble(id, objects) {
            Ok(s) => {
                report.grant = Some(s.details().grant.clone());
                report.requester = Some(s.requester().to_string());
                if let Some(e) = out_of_order(&s) {
                    findings.push(modified(&dir, &e));
                }
            }
            Err(super::state::StoryError::NotFound) => {
                findings.push(modified(&dir, "no request object"));
            }
            Err(super::state::StoryError::Bad(e) | super::state::StoryError::Store(e)) => {
                findings.push(modified(&dir, &e))
            }
        }
    }
    report.intact = findings.is_empty();
    (report, findings)
}

/// Reads, parses and checks the signature of one object.
async fn read(
    store: &RecordStore,
    name: &str,
    trusted: &[VerifyingKey],
) -> Result<GrantObject, String> {
    let bytes = store
        .get_bounded(name, MAX_GRANT_OBJECT_LEN as u64)
        .await
        .map_err(|e| e.to_string())?;
    let o = GrantObject::parse(&bytes)?;
    match o.check_signature()? {
        Some(k) if !trusted.is_empty() && !trusted.contains(&k) => {
            Err("signed by an unknown key".into())
        }
        None if !trusted.is_empty() => Err("unsigned in a signed store".into()),
        _ => Ok(o),
    }
}

/// What a valid story never has: a use without a complete approval before it and within
/// the TTL, a result without a use, a use of an elevation.
fn out_of_order(s: &Story) -> Option<String> {
    if s.result.is_some() && s.used.is_none() {
        return Some("a result without a use".into());
    }
    let used = s.used.as_ref()?;
    if s.details().kind != "write" {
        return Some("a use of an elevation".into());
    }
    let at = used.body.at_ms;
    let approved = s.approved_at_ms().is_some_and(|t| t <= at);
    let in_ttl = s.expires_at_ms().is_some_and(|end| at < end);
    let stopped = [&s.denial, &s.revocation]
        .into_iter()
        .flatten()
        .any(|o| o.body.at_ms <= at);
    (!approved || !in_ttl || stopped).then(|| "a use that was not approved at the time".into())
}
