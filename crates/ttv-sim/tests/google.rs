//! The simulated Google surfaces spoken to the way Google documents them and google-genai /
//! google-auth behave, with a plain HTTP client: the shape of Gemini file URIs and the
//! download built from them, the service-account token exchange with Google's audience, and
//! Vertex AI under both API versions.

mod common;

use serde_json::{Value, json};
use ttv_sim::{Endpoint, Provider, Sim, SimConfig, test_service_account_key};

use common::{poll_until, send, start};

const KEY: &str = "AIza-sim-test";
const GOOGLE_AUDIENCE: &str = "https://oauth2.googleapis.com/token";
const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
const GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

async fn google_sim(config: SimConfig) -> (Sim, reqwest::Client) {
    start(SimConfig {
        google_public_key_pem: Some(test_service_account_key().1.clone()),
        ..config
    })
    .await
}

/// A service-account assertion as google-auth signs it, with `claims` changed.
fn assertion(claims: Value) -> String {
    let now = chrono::Utc::now().timestamp();
    let mut all = json!({
        "iss": "sim@sim-project.iam.gserviceaccount.com",
        "scope": SCOPE,
        "aud": GOOGLE_AUDIENCE,
        "iat": now,
        "exp": now + 3600,
    });
    if let (Some(all), Value::Object(changes)) = (all.as_object_mut(), claims) {
        all.extend(changes);
    }
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(test_service_account_key().0.as_bytes())
        .expect("rsa key");
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &all,
        &key,
    )
    .expect("signed")
}

async fn exchange(sim: &Sim, client: &reqwest::Client, jwt: &str) -> (u16, Value) {
    send(
        client
            .post(sim.token_uri())
            .form(&[("grant_type", GRANT), ("assertion", jwt)]),
    )
    .await
}

async fn access_token(sim: &Sim, client: &reqwest::Client) -> String {
    let (status, body) = exchange(sim, client, &assertion(json!({}))).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().expect("a token").to_owned()
}

#[tokio::test]
async fn gemini_video_uris_have_the_real_shape_and_the_file_id_downloads_from_the_base_url() {
    let (sim, client) = google_sim(SimConfig::default().with_timings(0.0, 0.1)).await;
    let base = sim.base_url(Provider::Gemini);
    let (status, created) = send(
        client
            .post(format!(
                "{base}/v1beta/models/veo-3.0-fast-generate-001:predictLongRunning"
            ))
            .header("x-goog-api-key", KEY)
            .json(&json!({ "instances": [{ "prompt": "a fox" }] })),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    let name = created["name"].as_str().unwrap().to_owned();
    let op = poll_until(
        || {
            client
                .get(format!("{base}/v1beta/{name}"))
                .header("x-goog-api-key", KEY)
        },
        |op| op["done"] == true,
    )
    .await;
    let uri = op["response"]["generateVideoResponse"]["generatedSamples"][0]["video"]["uri"]
        .as_str()
        .unwrap();

    // google-genai's t_file_name: the id is the lowercase letters and digits after `files/`.
    let rest = uri
        .strip_prefix("https://generativelanguage.googleapis.com/v1beta/files/")
        .unwrap_or_else(|| panic!("not the real shape: {uri}"));
    let (id, tail) = rest.split_once(':').unwrap();
    assert_eq!(tail, "download?alt=media");
    assert!(
        !id.is_empty()
            && id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()),
        "{id}"
    );
    assert_eq!(Some(id), name.rsplit('/').next());

    // files.download: GET {base}/v1beta/files/{id}:download?alt=media with the key, following
    // the redirect to storage.
    let download = format!("{base}/v1beta/files/{id}:download?alt=media");
    let video = client
        .get(&download)
        .header("x-goog-api-key", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(video.status(), 200);
    assert_eq!(video.headers()["content-type"], "video/mp4");
    let bytes = video.bytes().await.unwrap();
    assert_eq!(&bytes[4..8], b"ftyp");
    let (status, refused) = send(client.get(&download)).await;
    assert_eq!(status, 400);
    assert_eq!(refused["error"]["details"][0]["reason"], "API_KEY_INVALID");

    // Every call about the operation names it in the request log.
    let log = sim.requests();
    let about: Vec<_> = log
        .iter()
        .filter(|r| r.task.as_deref() == Some(id))
        .map(|r| r.endpoint)
        .collect();
    assert_eq!(about.first(), Some(&Some(Endpoint::Submit)));
    assert!(about.contains(&Some(Endpoint::Poll)));
    assert!(about.contains(&Some(Endpoint::Result)));
    assert!(about.contains(&Some(Endpoint::Download)));
}

#[tokio::test]
async fn the_token_endpoint_takes_googles_audience_and_still_checks_scope_expiry_and_signature() {
    let (sim, client) = google_sim(SimConfig::default()).await;

    let (status, token) = exchange(&sim, &client, &assertion(json!({}))).await;
    assert_eq!(status, 200, "{token}");
    assert_eq!(token["token_type"], "Bearer");
    assert_eq!(token["expires_in"], 3600);
    assert!(token["access_token"].as_str().unwrap().starts_with("ya29."));

    // The simulator's own address is not an audience Google accepts.
    let own = assertion(json!({ "aud": sim.token_uri() }));
    let (status, body) = exchange(&sim, &client, &own).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    let unscoped =
        assertion(json!({ "scope": "https://www.googleapis.com/auth/devstorage.read_only" }));
    let (status, body) = exchange(&sim, &client, &unscoped).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope"))
    );

    let old = chrono::Utc::now().timestamp() - 7200;
    let expired = assertion(json!({ "iat": old, "exp": old + 3600 }));
    let (status, body) = exchange(&sim, &client, &expired).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    // Another payload under the same signature.
    let good = assertion(json!({}));
    let forged_claims = assertion(json!({ "iss": "someone-else@example.com" }));
    let mut parts: Vec<&str> = good.split('.').collect();
    parts[1] = forged_claims.split('.').nth(1).unwrap();
    let (status, body) = exchange(&sim, &client, &parts.join(".")).await;
    assert_eq!(status, 400);
    assert_eq!(body["error_description"], "Invalid JWT Signature.");

    let (status, body) = send(
        client
            .post(sim.token_uri())
            .form(&[("grant_type", "client_credentials"), ("assertion", &good)]),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
}

#[tokio::test]
async fn vertex_serves_v1_and_v1beta1_for_predict_fetch_and_operations() {
    let (sim, client) = google_sim(SimConfig::default().with_timings(0.0, 0.1)).await;
    let token = access_token(&sim, &client).await;
    let base = sim.base_url(Provider::Vertex);
    let resource =
        "projects/sim-project/locations/us-central1/publishers/google/models/veo-3.1-generate-001";
    for version in ["v1", "v1beta1"] {
        let (status, created) = send(
            client
                .post(format!("{base}/{version}/{resource}:predictLongRunning"))
                .bearer_auth(&token)
                .json(&json!({ "instances": [{ "prompt": "a fox" }], "parameters": { "sampleCount": 1 } })),
        )
        .await;
        assert_eq!(status, 200, "{version}: {created}");
        let name = created["name"].as_str().unwrap().to_owned();
        let (cut, id) = name.rsplit_once("/operations/").unwrap();
        assert_eq!(cut, resource, "{version}");

        // fetchPredictOperation on the model resource cut from the name, as google-genai does.
        let done = poll_until(
            || {
                client
                    .post(format!("{base}/{version}/{cut}:fetchPredictOperation"))
                    .bearer_auth(&token)
                    .json(&json!({ "operationName": name }))
            },
            |op| op["done"] == true,
        )
        .await;
        assert_eq!(done["name"], name.as_str());
        assert_eq!(done["response"]["videos"][0]["mimeType"], "video/mp4");
        assert!(done["response"]["videos"][0]["bytesBase64Encoded"].is_string());

        // The long-running operations method, under the same version.
        let by_id = format!("projects/sim-project/locations/us-central1/operations/{id}");
        let (status, op) = send(
            client
                .get(format!("{base}/{version}/{by_id}"))
                .bearer_auth(&token),
        )
        .await;
        assert_eq!(status, 200, "{version}: {op}");
        assert_eq!(
            (op["name"].as_str(), op["done"].as_bool()),
            (Some(by_id.as_str()), Some(true))
        );
        let (status, _) = send(client.get(format!("{base}/{version}/{by_id}"))).await;
        assert_eq!(status, 401, "{version}: operations need the token");
    }
    for unknown in ["v2", "v1alpha"] {
        let (status, body) = send(
            client
                .post(format!("{base}/{unknown}/{resource}:predictLongRunning"))
                .bearer_auth(&token)
                .json(&json!({ "instances": [{ "prompt": "a fox" }] })),
        )
        .await;
        assert_eq!(
            (status, body["error"]["status"].as_str()),
            (404, Some("NOT_FOUND"))
        );
    }
    assert_eq!(sim.paid_submits(Provider::Vertex), 2);
}
