//! The configuration of the hosted providers added after the original pipeline's four
//! (`kling`, `luma`, `replicate`, `seedance`, `alibaba`) and of the upload bucket (`uploads`):
//! their secrets and addresses from the file or the providers' standard environment
//! variables, and the options they resolve to.

use std::time::Duration;

use super::resolve::Secrets;
use super::schema::Config;
use super::{Env, Finding};
use crate::output_store::{OUTPUT_URL_ENV, OutputOptions, OutputStore};
use crate::services::alibaba::{self, AlibabaOptions};
use crate::services::bucket::BucketOptions;
use crate::services::kling::{self, KlingOptions, auth::Credentials};
use crate::services::luma::{self, LumaOptions};
use crate::services::replicate::{self, ReplicateOptions};
use crate::services::seedance::{self, SeedanceOptions};

/// The environment variable naming the upload bucket.
pub const UPLOAD_STORE_ENV: &str = "TTV_UPLOAD_STORE";

/// Fills every secret of these sections from the file or the environment.
pub(super) fn secrets(config: &mut Config, s: &mut Secrets<'_>) {
    let k = &mut config.kling;
    k.access_key = s.pick(
        "kling.access_key",
        k.access_key.take(),
        &[kling::ACCESS_KEY_ENV],
    );
    k.secret_key = s.pick(
        "kling.secret_key",
        k.secret_key.take(),
        &[kling::SECRET_KEY_ENV],
    );
    k.api_key = s.pick("kling.api_key", k.api_key.take(), &[kling::API_KEY_ENV]);
    let l = &mut config.luma;
    l.api_key = s.pick("luma.api_key", l.api_key.take(), &[luma::KEY_ENV]);
    l.legacy_api_key = s.pick(
        "luma.legacy_api_key",
        l.legacy_api_key.take(),
        &[luma::LEGACY_KEY_ENV],
    );
    let r = &mut config.replicate;
    r.api_key = s.pick("replicate.api_key", r.api_key.take(), &[replicate::KEY_ENV]);
    let sd = &mut config.seedance;
    sd.api_key = s.pick("seedance.api_key", sd.api_key.take(), &[seedance::KEY_ENV]);
    let a = &mut config.alibaba;
    a.api_key = s.pick("alibaba.api_key", a.api_key.take(), &[alibaba::KEY_ENV]);
    let u = &mut config.uploads;
    u.access_key_id = s.pick(
        "uploads.access_key_id",
        u.access_key_id.take(),
        &["AWS_ACCESS_KEY_ID"],
    );
    u.secret_access_key = s.pick(
        "uploads.secret_access_key",
        u.secret_access_key.take(),
        &["AWS_SECRET_ACCESS_KEY"],
    );
    u.session_token = s.pick(
        "uploads.session_token",
        u.session_token.take(),
        &["AWS_SESSION_TOKEN"],
    );
    // The output store's S3 credentials default to the upload bucket's (the same AWS
    // variables), so one set of keys serves both.
    let (u, o) = (&config.uploads, &mut config.output);
    o.access_key_id = s
        .pick("output.access_key_id", o.access_key_id.take(), &[])
        .or_else(|| u.access_key_id.clone());
    o.secret_access_key = s
        .pick("output.secret_access_key", o.secret_access_key.take(), &[])
        .or_else(|| u.secret_access_key.clone());
    o.session_token = s
        .pick("output.session_token", o.session_token.take(), &[])
        .or_else(|| u.session_token.clone());
}

/// Fills addresses and the bucket from the environment where the file is silent.
pub(super) fn addresses(config: &mut Config, env: &dyn Env) {
    let fill = |slot: &mut Option<String>, vars: &[&str]| {
        if slot.is_none() {
            *slot = vars
                .iter()
                .find_map(|v| env.var(v).filter(|v| !v.trim().is_empty()));
        }
    };
    fill(&mut config.kling.base_url, &[kling::BASE_URL_ENV]);
    fill(&mut config.luma.base_url, &[luma::BASE_URL_ENV]);
    fill(
        &mut config.luma.legacy_base_url,
        &[luma::LEGACY_BASE_URL_ENV],
    );
    fill(&mut config.replicate.base_url, &[replicate::BASE_URL_ENV]);
    fill(&mut config.seedance.base_url, &[seedance::BASE_URL_ENV]);
    fill(&mut config.alibaba.base_url, &[alibaba::BASE_URL_ENV]);
    fill(&mut config.uploads.store, &[UPLOAD_STORE_ENV]);
    fill(
        &mut config.uploads.endpoint,
        &["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"],
    );
    fill(
        &mut config.uploads.region,
        &["AWS_REGION", "AWS_DEFAULT_REGION"],
    );
    fill(&mut config.output.url, &[OUTPUT_URL_ENV]);
    if config.output.endpoint.is_none() {
        config.output.endpoint = config.uploads.endpoint.clone();
    }
    if config.output.region.is_none() {
        config.output.region = config.uploads.region.clone();
    }
}

/// The options these sections resolve to.
#[derive(Debug)]
pub(super) struct Resolved {
    pub kling: KlingOptions,
    pub luma: LumaOptions,
    pub replicate: ReplicateOptions,
    pub seedance: SeedanceOptions,
    pub alibaba: AlibabaOptions,
}

fn set(slot: &mut String, value: &Option<String>) {
    if let Some(v) = value.as_ref().filter(|v| !v.trim().is_empty()) {
        *slot = v.trim().to_owned();
    }
}

/// A region's base URL: `international` or `china`; anything else is an error at `path`.
fn region(
    path: &str,
    value: Option<&str>,
    [international, china]: [&str; 2],
    findings: &mut Vec<Finding>,
) -> Option<String> {
    match value.map(str::trim) {
        None | Some("international" | "intl" | "singapore") => Some(international.to_owned()),
        Some("china" | "cn" | "mainland" | "beijing") => Some(china.to_owned()),
        Some(other) => {
            findings.push(Finding::error(
                path,
                format!("{other:?}; expected international or china"),
            ));
            None
        }
    }
}

/// Resolves the sections; `poll` is `remote_api_settings.polling_interval`.
pub(super) fn resolve(
    config: &Config,
    poll: Option<Duration>,
    findings: &mut Vec<Finding>,
) -> Resolved {
    let bucket = bucket(config, findings);

    let k = &config.kling;
    let mut kling = KlingOptions {
        credentials: Credentials {
            access_key: k.access_key.clone(),
            secret_key: k.secret_key.clone(),
            api_key: k.api_key.clone(),
        },
        ..KlingOptions::default()
    };
    if let Some(url) = region(
        "kling.region",
        k.region.as_deref(),
        [kling::INTERNATIONAL_BASE_URL, kling::MAINLAND_BASE_URL],
        findings,
    ) {
        kling.base_url = url;
    }
    set(&mut kling.base_url, &k.base_url);
    set(&mut kling.model, &k.model);
    set(&mut kling.mode, &k.mode);
    if k.access_key.is_some() != k.secret_key.is_some() && k.api_key.is_none() {
        findings.push(Finding::error(
            "kling",
            "set both access_key and secret_key (or KLINGAI_ACCESS_KEY and KLINGAI_SECRET_KEY)",
        ));
    }

    let l = &config.luma;
    let mut luma = LumaOptions {
        api_key: l.api_key.clone(),
        legacy_api_key: l.legacy_api_key.clone(),
        uploads: bucket.clone(),
        ..LumaOptions::default()
    };
    set(&mut luma.base_url, &l.base_url);
    set(&mut luma.legacy_base_url, &l.legacy_base_url);
    set(&mut luma.model, &l.model);

    let r = &config.replicate;
    let mut replicate = ReplicateOptions {
        api_key: r.api_key.clone(),
        default_input: r
            .default_input
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        ..ReplicateOptions::default()
    };
    set(&mut replicate.base_url, &r.base_url);
    set(&mut replicate.model, &r.model);
    match r.wait_secs {
        Some(w) if w > 60 => findings.push(Finding::error(
            "replicate.wait_secs",
            format!("{w}; expected 0 to 60 seconds"),
        )),
        Some(w) => replicate.wait_secs = w,
        None => {}
    }

    let sd = &config.seedance;
    let mut seedance = SeedanceOptions {
        api_key: sd.api_key.clone(),
        uploads: bucket.clone(),
        ..SeedanceOptions::default()
    };
    if let Some(url) = region(
        "seedance.region",
        sd.region.as_deref(),
        [seedance::DEFAULT_BASE_URL, seedance::MAINLAND_BASE_URL],
        findings,
    ) {
        seedance.base_url = url;
    }
    set(&mut seedance.base_url, &sd.base_url);
    set(&mut seedance.model, &sd.model);

    let a = &config.alibaba;
    let mut alibaba = AlibabaOptions {
        api_key: a.api_key.clone(),
        workspace: a.workspace.clone().filter(|w| !w.trim().is_empty()),
        uploads: bucket,
        ..AlibabaOptions::default()
    };
    if let Some(url) = region(
        "alibaba.region",
        a.region.as_deref(),
        [alibaba::INTERNATIONAL_BASE_URL, alibaba::MAINLAND_BASE_URL],
        findings,
    ) {
        alibaba.base_url = url;
    }
    set(&mut alibaba.base_url, &a.base_url);
    set(&mut alibaba.model, &a.model);

    if let Some(poll) = poll {
        kling.poll_interval = poll;
        luma.poll_interval = poll;
        replicate.poll_interval = poll;
        seedance.poll_interval = poll;
        alibaba.poll_interval = poll;
    }
    Resolved {
        kling,
        luma,
        replicate,
        seedance,
        alibaba,
    }
}

/// The bucket's options when `uploads.store` (or `TTV_UPLOAD_STORE`) is set and valid.
fn bucket(config: &Config, findings: &mut Vec<Finding>) -> Option<BucketOptions> {
    let u = &config.uploads;
    let store = u.store.as_ref().filter(|s| !s.trim().is_empty())?;
    let mut options = BucketOptions {
        endpoint: u.endpoint.clone(),
        region: u.region.clone(),
        access_key_id: u.access_key_id.clone(),
        secret_access_key: u.secret_access_key.clone(),
        session_token: u.session_token.clone(),
        ..BucketOptions::new(store.trim())
    };
    if let Some(ttl) = u.url_ttl_secs {
        match Duration::try_from_secs_f64(ttl) {
            Ok(d) if (1.0..=604_800.0).contains(&ttl) => options.url_ttl = d,
            _ => findings.push(Finding::error(
                "uploads.url_ttl_secs",
                format!(
                    "{ttl}; expected 1 to 604800 seconds (S3 presigned URLs last at most 7 days)"
                ),
            )),
        }
    }
    if let Err(e) = crate::services::bucket::Bucket::new(&options) {
        let text = e.to_string();
        let message = text
            .strip_prefix("uploads.store: ")
            .unwrap_or(&text)
            .to_owned();
        findings.push(Finding::error("uploads.store", message));
        return None;
    }
    Some(options)
}

/// The output store's options when `output.url` (or `TTV_OUTPUT_URL`) is set and valid.
pub(super) fn output(config: &Config, findings: &mut Vec<Finding>) -> Option<OutputOptions> {
    let o = &config.output;
    let url = o.url.as_ref().filter(|s| !s.trim().is_empty())?.trim();
    let mut options = OutputOptions {
        access: BucketOptions {
            endpoint: o.endpoint.clone(),
            region: o.region.clone(),
            access_key_id: o.access_key_id.clone(),
            secret_access_key: o.secret_access_key.clone(),
            session_token: o.session_token.clone(),
            ..BucketOptions::new(url)
        },
        ..OutputOptions::new(url)
    };
    if let Some(ttl) = o.url_ttl_secs {
        match Duration::try_from_secs_f64(ttl) {
            Ok(d) if (1.0..=604_800.0).contains(&ttl) => options.access.url_ttl = d,
            _ => findings.push(Finding::error(
                "output.url_ttl_secs",
                format!("{ttl}; expected 1 to 604800 seconds (presigned URLs last at most 7 days)"),
            )),
        }
    }
    if let Err(e) = OutputStore::check(&options) {
        let text = e.to_string();
        let (path, message) = text.split_once(": ").unwrap_or(("output.url", &text));
        findings.push(Finding::error(path, message.to_owned()));
        return None;
    }
    Some(options)
}
