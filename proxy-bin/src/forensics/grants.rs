//! Access requests in the store (`grants/<id>/…`): `sessions --grants` lists them and
//! `export --session ID` of a request's id prints its whole story as JSON.

use anyhow::{Context, anyhow};
use proxy_core::grants::object::{GRANTS_DIR, GrantObject, MAX_GRANT_OBJECT_LEN, folder, valid_id};
use proxy_core::grants::state::{Story, StoryError, ms, time};
use proxy_core::record::RecordStore;

use crate::Failure;
use crate::cli::{Output, SessionsArgs};

/// Request `id`'s objects, parsed and signature-checked, as a story.
pub(super) async fn story(store: &RecordStore, id: &str) -> Result<Story, anyhow::Error> {
    let dir = folder(id);
    let mut objects = Vec::new();
    for leaf in store.objects(&dir).await.context("listing the request")? {
        let name = format!("{dir}/{leaf}");
        let bytes = store
            .get_bounded(&name, MAX_GRANT_OBJECT_LEN as u64)
            .await
            .with_context(|| name.clone())?;
        let o = GrantObject::parse(&bytes).map_err(|e| anyhow!("{name}: {e}"))?;
        o.check_signature().map_err(|e| anyhow!("{name}: {e}"))?;
        objects.push((leaf, o));
    }
    Story::assemble(id, objects).map_err(|e| match e {
        StoryError::NotFound => anyhow!("no access request {id}"),
        StoryError::Bad(m) | StoryError::Store(m) => anyhow!(m),
    })
}

/// Whether `id` names an access request in the store.
pub(super) async fn is_request(store: &RecordStore, id: &str) -> bool {
    valid_id(id)
        && store
            .objects(&folder(id))
            .await
            .is_ok_and(|o| o.iter().any(|n| n == "request"))
}

/// The whole story: the request as the API shows it, and every object in order.
pub(super) async fn export(store: &RecordStore, id: &str) -> Result<(), Failure> {
    let s = story(store, id).await?;
    let mut steps: Vec<&GrantObject> = std::iter::once(&s.request)
        .chain(&s.approvals)
        .chain(
            [&s.denial, &s.revocation, &s.used, &s.result, &s.expired]
                .into_iter()
                .flatten(),
        )
        .collect();
    steps.sort_by_key(|o| o.body.at_ms);
    let objects: Vec<serde_json::Value> = steps
        .iter()
        .map(|o| {
            serde_json::json!({
                "step": o.body.step, "user": o.body.user, "groups": o.body.groups,
                "at": time(o.body.at_ms), "reason": o.body.reason, "instance": o.body.instance,
                "sha256": o.sha256, "signed": o.signature.is_some(), "answer": o.body.answer,
            })
        })
        .collect();
    let out = serde_json::json!({
        "accessRequest": s.view(ms(std::time::SystemTime::now())),
        "steps": objects,
    });
    println!("{}", serde_json::to_string_pretty(&out).context("json")?);
    Ok(())
}

/// `kubewitness sessions --grants`.
pub(super) async fn list(store: &RecordStore, args: &SessionsArgs) -> Result<(), Failure> {
    let since = match &args.since {
        Some(t) => Some(super::parse_time("--since", t).map_err(Failure::usage)?),
        None => None,
    };
    let now = ms(std::time::SystemTime::now());
    let mut rows = Vec::new();
    for id in store
        .folders(Some(GRANTS_DIR))
        .await
        .context("listing grants")?
    {
        let Ok(s) = story(store, &id).await else {
            continue;
        };
        let r = s.view(now);
        if since.is_some_and(|t| s.request.body.at_ms < t)
            || args.user.as_ref().is_some_and(|u| *u != r.requester)
        {
            continue;
        }
        rows.push(r);
    }
    if args.output == Output::Json {
        println!("{}", serde_json::to_string_pretty(&rows).context("json")?);
        return Ok(());
    }
    println!(
        "{:<26}  {:<24}  {:<12}  {:<20}  {:<8}  WHAT",
        "REQUEST", "CREATED", "REQUESTER", "GRANT", "STATE"
    );
    for r in rows {
        let state = serde_json::to_value(r.state).context("json")?;
        println!(
            "{:<26}  {:<24}  {:<12}  {:<20}  {:<8}  {}",
            r.id,
            r.created_at,
            r.requester,
            r.grant,
            state.as_str().unwrap_or(""),
            r.description.as_deref().unwrap_or(&r.kind)
        );
    }
    Ok(())
}
