//! The LLM planner against the simulator's OpenAI-compatible chat-completions endpoint: a
//! valid plan, the exact request, and each failure as a typed error the caller falls back on.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;
use ttv::ErrorKind;
use ttv::http::ApiKey;
use ttv::planner::{PlannerAccess, plan_with_llm, plan_with_llm_within, prices, request_preview};
use ttv_sim::{Endpoint, FaultKind, FaultRule, Provider, Sim, SimConfig};

const KEY: &str = "sk-sim-planner";
const STORY: &str = "A red fox wakes in a misty forest. It hunts along a frozen river. \
                     At dusk it curls up under the stars.";

async fn sim_with(fault: Option<FaultRule>) -> Sim {
    let mut config = SimConfig {
        api_key: Some(KEY.into()),
        ..SimConfig::default()
    };
    if let Some(rule) = fault {
        config = config.with_fault(Provider::OpenAi, rule);
    }
    Sim::start(config).await.unwrap()
}

fn access(sim: &Sim) -> PlannerAccess {
    PlannerAccess {
        api_key: Some(ApiKey::new(KEY)),
        base_url: sim.api_base(Provider::OpenAi),
        model: "gpt-4o-mini".into(),
    }
}

#[tokio::test]
async fn a_valid_answer_becomes_a_plan_with_its_cost() {
    let sim = sim_with(None).await;
    let (plan, usage) = plan_with_llm(&access(&sim), STORY, 3, 5.0, 8.0)
        .await
        .unwrap();
    let prompts: Vec<&str> = plan.segments.iter().map(|s| s.prompt.as_str()).collect();
    assert_eq!(
        prompts,
        vec![
            "Scene 1: A red fox wakes in a misty forest",
            "Scene 2: It hunts along a frozen river",
            "Scene 3: At dusk it curls up under the stars",
        ]
    );
    assert!(plan.segments.iter().all(|s| s.duration == Some(5.0)));
    assert_eq!(
        plan.segments[0].keyframe_prompt.as_deref(),
        Some("Still frame, scene 1: A red fox wakes in a misty forest")
    );
    assert_eq!(plan.title.as_deref(), Some("A red fox wakes in"));
    assert!(usage.prompt_tokens > 0 && usage.completion_tokens > 0);
    let want = prices::cost_usd("gpt-4o-mini", usage.prompt_tokens, usage.completion_tokens);
    assert_eq!(usage.cost_usd, want);
    assert!(usage.cost_usd > 0.0);
    assert_eq!(sim.paid_submits(Provider::OpenAi), 1);
}

#[tokio::test]
async fn the_request_is_a_strict_json_schema_chat_completion() {
    let sim = sim_with(None).await;
    plan_with_llm(&access(&sim), STORY, 2, 4.0, 6.0)
        .await
        .unwrap();
    let requests = sim.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/openai/v1/chat/completions");
    assert_eq!(r.headers["authorization"], format!("Bearer {KEY}"));
    assert_eq!(r.headers["content-type"], "application/json");
    let body: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(body, request_preview("gpt-4o-mini", STORY, 2, 4.0, 6.0));
    assert_eq!(body["model"], "gpt-4o-mini");
    assert_eq!(body["messages"][1]["role"], "user");
    assert_eq!(body["messages"][1]["content"], STORY);
    let format = &body["response_format"];
    assert_eq!(format["type"], "json_schema");
    assert_eq!(format["json_schema"]["name"], "storyboard");
    assert_eq!(format["json_schema"]["strict"], true);
    let schema = &format["json_schema"]["schema"];
    assert_eq!(schema["additionalProperties"], false);
    assert_eq!(
        schema["required"],
        serde_json::json!(["title", "logic", "segments"])
    );
    let system = body["messages"][0]["content"].as_str().unwrap();
    assert!(system.contains("exactly 2 segments"), "{system}");
    assert!(system.contains("at most 6 seconds"), "{system}");
}

async fn failure(rule: FaultRule) -> ttv::Error {
    let sim = sim_with(Some(rule)).await;
    plan_with_llm_within(
        &access(&sim),
        STORY,
        3,
        5.0,
        8.0,
        Duration::from_millis(500),
    )
    .await
    .unwrap_err()
}

#[tokio::test]
async fn malformed_json_content_is_an_invalid_output() {
    let err = failure(FaultRule::always(
        Endpoint::Submit,
        FaultKind::MalformedOutput,
    ))
    .await;
    assert_eq!(err.kind(), ErrorKind::InvalidOutput);
    assert!(
        err.message()
            .contains("the storyboard is not the JSON asked for"),
        "{err}"
    );
}

#[tokio::test]
async fn a_refusal_is_a_content_rejection() {
    let err = failure(FaultRule::always(Endpoint::Submit, FaultKind::Refusal)).await;
    assert_eq!(err.kind(), ErrorKind::ContentRejected);
    assert!(err.message().contains("refused: I'm sorry"), "{err}");
}

#[tokio::test]
async fn no_answer_is_a_timeout() {
    let mut rule = FaultRule::always(Endpoint::Submit, FaultKind::NoAnswer);
    rule.delay_ms = Some(5_000);
    let err = failure(rule).await;
    assert_eq!(err.kind(), ErrorKind::Timeout);
}

#[tokio::test]
async fn rate_limits_server_errors_and_bad_keys_keep_their_kinds() {
    let err = failure(FaultRule::always(Endpoint::Submit, FaultKind::RateLimited)).await;
    assert_eq!(err.kind(), ErrorKind::RateLimited);
    assert!(err.message().contains("Rate limit reached"), "{err}");
    let err = failure(FaultRule::always(Endpoint::Submit, FaultKind::ServerError)).await;
    assert_eq!(err.kind(), ErrorKind::Transient);
    let err = failure(FaultRule::always(
        Endpoint::Submit,
        FaultKind::InsufficientBalance,
    ))
    .await;
    assert_eq!(err.kind(), ErrorKind::QuotaExceeded);

    let sim = sim_with(None).await;
    let wrong = PlannerAccess {
        api_key: Some(ApiKey::new("sk-wrong")),
        ..access(&sim)
    };
    let err = plan_with_llm(&wrong, STORY, 3, 5.0, 8.0).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth);
    assert!(!err.to_string().contains("sk-wrong"));
}

#[tokio::test]
async fn a_wrong_segment_count_is_refused() {
    let sim = sim_with(None).await;
    // More segments than the simulated model will write (it caps at 100).
    let err = plan_with_llm(&access(&sim), STORY, 150, 5.0, 8.0)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidOutput);
    assert!(
        err.message().contains("2 segments planned, 150 asked for"),
        "{err}"
    );
}

#[test]
fn settings_carry_the_original_keys() {
    let env: HashMap<String, String> = [("OPENAI_API_KEY".to_owned(), "sk-env".to_owned())].into();
    let loaded = ttv::config::from_yaml(
        "openai_base_url: http://127.0.0.1:11434/v1/\nprompt_enhancement_model: o4-mini\n",
        &env,
    );
    assert_eq!(loaded.settings.openai.base_url, "http://127.0.0.1:11434/v1");
    assert_eq!(
        loaded.settings.openai.api_key.as_ref().map(ApiKey::expose),
        Some("sk-env")
    );
    assert_eq!(loaded.settings.planner_model, "o4-mini");
    let access = PlannerAccess::from_settings(&loaded.settings).unwrap();
    assert_eq!(access.model, "o4-mini");

    let bare = ttv::config::from_yaml("", &HashMap::new());
    assert_eq!(bare.settings.openai.base_url, "https://api.openai.com/v1");
    assert_eq!(bare.settings.planner_model, "gpt-4o-mini");
    assert!(PlannerAccess::from_settings(&bare.settings).is_none());

    let file = ttv::config::from_yaml("openai_api_key: sk-file\n", &env);
    assert_eq!(
        file.settings.openai.api_key.as_ref().map(ApiKey::expose),
        Some("sk-file")
    );
}
