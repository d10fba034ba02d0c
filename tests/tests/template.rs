//! What cfn-lint cannot know about template.yaml: that it matches this code. The tables match
//! `shared::aws::tables`, every route of the API is there, the SQS event source reports partial
//! batch failures, the DLQ redrive matches the worker's give-up count, and every IAM statement
//! names its actions and scopes its resources.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_yaml::Value;
use shared::aws::tables::TABLES;
use shared::queue_message::MAX_RECEIVES;

fn template() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../template.yaml");
    serde_yaml::from_str(&std::fs::read_to_string(path).expect("template.yaml")).expect("template.yaml is YAML")
}

fn resource<'a>(t: &'a Value, name: &str) -> &'a Value {
    let r = &t["Resources"][name];
    assert!(!r.is_null(), "resource {name} is missing");
    r
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

/// `!GetAtt X.Arn` → "X.Arn" (intrinsics are YAML tags).
fn get_att(v: &Value) -> String {
    tagged_text(v, "!GetAtt").to_owned()
}

#[test]
fn tables_match_the_code() {
    let t = template();
    for def in TABLES {
        let props = &resource(&t, def.logical_id)["Properties"];
        assert_eq!(text(&props["BillingMode"]), "PAY_PER_REQUEST", "{}", def.logical_id);
        assert_eq!(props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"], Value::Bool(true));
        assert_eq!(props["SSESpecification"]["SSEEnabled"], Value::Bool(true));
        let keys: Vec<(&str, &str)> = props["KeySchema"]
            .as_sequence()
            .expect("KeySchema")
            .iter()
            .map(|k| (text(&k["AttributeName"]), text(&k["KeyType"])))
            .collect();
        let mut expected = vec![(def.hash, "HASH")];
        expected.extend(def.range.map(|r| (r, "RANGE")));
        assert_eq!(keys, expected, "{} keys", def.logical_id);
        let gsis = props["GlobalSecondaryIndexes"].as_sequence().map_or(&[][..], Vec::as_slice);
        assert_eq!(gsis.len(), def.indexes.len(), "{} indexes", def.logical_id);
        for (gsi, index) in gsis.iter().zip(def.indexes) {
            assert_eq!(text(&gsi["IndexName"]), index.name);
            assert_eq!(text(&gsi["KeySchema"][0]["AttributeName"]), index.hash);
            assert_eq!(text(&gsi["KeySchema"][1]["AttributeName"]), index.range);
            match index.include {
                None => assert_eq!(text(&gsi["Projection"]["ProjectionType"]), "ALL"),
                Some(attributes) => {
                    assert_eq!(text(&gsi["Projection"]["ProjectionType"]), "INCLUDE", "{}", index.name);
                    let held: Vec<&str> = gsi["Projection"]["NonKeyAttributes"]
                        .as_sequence()
                        .expect("NonKeyAttributes")
                        .iter()
                        .map(text)
                        .collect();
                    assert_eq!(held, attributes, "{} holds", index.name);
                }
            }
        }
        match def.ttl {
            Some(attribute) => {
                assert_eq!(text(&props["TimeToLiveSpecification"]["AttributeName"]), attribute);
                assert_eq!(props["TimeToLiveSpecification"]["Enabled"], Value::Bool(true));
            }
            None => assert!(props["TimeToLiveSpecification"].is_null()),
        }
    }
}

#[test]
fn every_api_route_reaches_the_api_function() {
    let t = template();
    let events = resource(&t, "ApiFunction")["Properties"]["Events"].as_mapping().expect("Events");
    let routes: BTreeSet<(String, String)> = events
        .values()
        .map(|e| {
            assert_eq!(text(&e["Type"]), "HttpApi");
            (text(&e["Properties"]["Method"]).to_owned(), text(&e["Properties"]["Path"]).to_owned())
        })
        .collect();
    // Every operation of the contract, read from docs/openapi.yaml, so the two cannot drift apart.
    let spec_path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.yaml");
    let spec: Value = serde_yaml::from_str(&std::fs::read_to_string(spec_path).expect("openapi")).expect("YAML");
    let mut expected = BTreeSet::new();
    for (path, item) in spec["paths"].as_mapping().expect("paths") {
        for method in ["get", "post", "put", "patch", "delete"] {
            if !item[method].is_null() {
                expected.insert((method.to_uppercase(), text(path).to_owned()));
            }
        }
    }
    // And the console's pages, which are not the API's contract.
    expected.insert(("GET".to_owned(), "/console".to_owned()));
    expected.insert(("GET".to_owned(), "/console/{file}".to_owned()));
    assert_eq!(routes, expected);
}

/// The WebSocket API's `$default` throttle and the dispatch cap, from the design's own rates
/// (docs/data-model.md, "What AWS enforces"): every CALL is one PostToConnection and one answer on
/// `$default`, and 150,000 chargers send a heartbeat every 300 s, all within the account's 10,000
/// API Gateway requests a second; the route lets the cap's answers and the heartbeats through.
#[test]
fn the_dispatch_cap_and_the_default_route_fit_the_accounts_request_rate() {
    const ACCOUNT_REQUESTS_PER_SECOND: u64 = 10_000;
    const HEARTBEATS_PER_SECOND: u64 = 150_000 / 300;
    let t = template();
    let cap = t["Parameters"]["DispatchPerSecond"]["Default"].as_u64().expect("DispatchPerSecond");
    assert_eq!(cap, u64::from(worker::pace::DEFAULT_DISPATCH_PER_SECOND), "the code's default is the template's");
    let route = &resource(&t, "WebSocketStage")["Properties"]["DefaultRouteSettings"];
    let rate = route["ThrottlingRateLimit"].as_u64().expect("rate");
    assert!(
        cap + HEARTBEATS_PER_SECOND <= rate,
        "$default lets {cap} answers and {HEARTBEATS_PER_SECOND} heartbeats a second through: {rate}"
    );
    assert!(2 * cap + HEARTBEATS_PER_SECOND <= ACCOUNT_REQUESTS_PER_SECOND * 7 / 10, "room left in the account's rate");
    assert!(rate <= route["ThrottlingBurstLimit"].as_u64().expect("burst"));
    let env = &resource(&t, "WorkerFunction")["Properties"]["Environment"]["Variables"];
    assert!(!env["DISPATCH_PER_SECOND"].is_null(), "the worker is told the cap");
}

/// The local poller stops a worker invocation where Lambda would (`lambda_like::WORKER_TIMEOUT`).
#[test]
fn the_local_poller_stops_the_worker_at_its_timeout_in_the_template() {
    let t = template();
    let worker = &resource(&t, "WorkerFunction")["Properties"]["Timeout"];
    let timeout = if worker.is_null() { &t["Globals"]["Function"]["Timeout"] } else { worker };
    assert_eq!(timeout.as_u64(), Some(ocpp_bulk::lambda_like::WORKER_TIMEOUT.as_secs()));
    let needed = worker::chunks::CHUNK_BUDGET + worker::chunks::AFTER_CHUNKS;
    assert!(needed < ocpp_bulk::lambda_like::WORKER_TIMEOUT, "a chunk and the rest of its batch fit an invocation");
}

#[test]
fn the_queue_feeds_the_worker_with_partial_failures_and_a_dead_letter_queue() {
    let t = template();
    let event = &resource(&t, "WorkerFunction")["Properties"]["Events"]["Dispatch"];
    assert_eq!(text(&event["Type"]), "SQS");
    let props = &event["Properties"];
    assert_eq!(get_att(&props["Queue"]), "DispatchQueue.Arn");
    assert_eq!(props["FunctionResponseTypes"][0].as_str(), Some("ReportBatchItemFailures"));
    assert!(props["BatchSize"].as_u64().is_some_and(|n| (1..=10).contains(&n)));
    assert!(!props["ScalingConfig"]["MaximumConcurrency"].is_null());
    let queue = &resource(&t, "DispatchQueue")["Properties"];
    assert_eq!(get_att(&queue["RedrivePolicy"]["deadLetterTargetArn"]), "DispatchDeadLetterQueue.Arn");
    assert_eq!(queue["RedrivePolicy"]["maxReceiveCount"].as_u64(), Some(u64::from(MAX_RECEIVES)));
    let visibility = queue["VisibilityTimeout"].as_u64().expect("VisibilityTimeout");
    let timeout = t["Globals"]["Function"]["Timeout"].as_u64().expect("Timeout");
    assert!(visibility >= 6 * timeout, "visibility timeout {visibility} s < 6 × function timeout {timeout} s");
}

#[test]
fn dead_letters_are_resolved_by_the_worker_and_raise_an_alarm() {
    let t = template();
    let worker = &resource(&t, "WorkerFunction")["Properties"];
    let event = &worker["Events"]["DeadLetters"]["Properties"];
    assert_eq!(get_att(&event["Queue"]), "DispatchDeadLetterQueue.Arn");
    assert_eq!(event["FunctionResponseTypes"][0].as_str(), Some("ReportBatchItemFailures"));
    let every_function = &t["Globals"]["Function"]["Environment"]["Variables"];
    assert_eq!(get_att(&every_function["DEAD_LETTER_QUEUE_ARN"]), "DispatchDeadLetterQueue.Arn");
    let dlq = &resource(&t, "DispatchDeadLetterQueue")["Properties"];
    let timeout = t["Globals"]["Function"]["Timeout"].as_u64().expect("Timeout");
    assert!(dlq["VisibilityTimeout"].as_u64().is_some_and(|v| v >= 6 * timeout));
    let alarm = &resource(&t, "DeadLetterAlarm")["Properties"];
    assert_eq!(text(&alarm["MetricName"]), "ApproximateNumberOfMessagesVisible");
    assert_eq!(get_att(&alarm["Dimensions"][0]["Value"]), "DispatchDeadLetterQueue.QueueName");
    // Every function is told every resource (Resources::from_env reads them all); the WebSocket
    // function hands answers off to the queue, which its policy lets it send to.
    for name in ["RUNS_TABLE", "DIRECTORY_TABLE", "CONNECTIONS_TABLE", "DISPATCH_QUEUE_URL", "DEAD_LETTER_QUEUE_URL"] {
        assert!(!every_function[name].is_null(), "{name}");
    }
    let websocket = serde_json::to_string(&resource(&t, "WebSocketFunction")["Properties"]["Policies"]).unwrap();
    assert!(websocket.contains("sqs:SendMessage"), "{websocket}");
}

#[test]
fn functions_are_rust_on_al2023_built_by_cargo_lambda() {
    let t = template();
    assert_eq!(text(&t["Globals"]["Function"]["Runtime"]), "provided.al2023");
    for (name, binary) in [("ApiFunction", "api"), ("WorkerFunction", "worker"), ("WebSocketFunction", "websocket")] {
        let function = resource(&t, name);
        assert_eq!(text(&function["Metadata"]["BuildMethod"]), "rust-cargolambda");
        assert_eq!(text(&function["Metadata"]["BuildProperties"]["Binary"]), binary);
        let main = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../functions/{binary}/src/main.rs"));
        assert!(main.exists(), "{name}'s binary {binary} has no main.rs");
    }
}

#[test]
fn the_websocket_api_routes_everything_and_answers_on_default() {
    let t = template();
    assert_eq!(text(&resource(&t, "WebSocketApi")["Properties"]["ProtocolType"]), "WEBSOCKET");
    let keys: BTreeSet<&str> = ["ConnectRoute", "DefaultRoute", "DisconnectRoute"]
        .iter()
        .map(|r| text(&resource(&t, r)["Properties"]["RouteKey"]))
        .collect();
    assert_eq!(keys, BTreeSet::from(["$connect", "$default", "$disconnect"]));
    assert_eq!(text(&resource(&t, "DefaultRoute")["Properties"]["RouteResponseSelectionExpression"]), "$default");
    assert_eq!(text(&resource(&t, "DefaultRouteResponse")["Properties"]["RouteResponseKey"]), "$default");
    assert!(!resource(&t, "WebSocketInvokePermission").is_null());
}

#[test]
fn every_policy_names_its_actions_and_scopes_its_resources() {
    let t = template();
    for name in ["ApiFunction", "WorkerFunction", "WebSocketFunction"] {
        let policies = resource(&t, name)["Properties"]["Policies"].as_sequence().expect("Policies");
        for statement in policies.iter().flat_map(|p| p["Statement"].as_sequence().cloned().unwrap_or_default()) {
            let actions: Vec<&str> = match &statement["Action"] {
                Value::Sequence(list) => list.iter().map(text).collect(),
                single => vec![text(single)],
            };
            for action in actions {
                assert!(!action.is_empty() && !action.contains('*'), "{name}: action {action:?}");
            }
            let resources = match &statement["Resource"] {
                Value::Sequence(list) => list.clone(),
                single => vec![single.clone()],
            };
            for resource in resources {
                let literal = if let Value::Tagged(_) = &resource { None } else { resource.as_str() };
                assert!(literal.is_none(), "{name}: resource {literal:?} must reference a resource of the stack");
                if let Value::Tagged(tagged) = &resource {
                    if tagged.tag == "!Sub" {
                        let arn = text(&tagged.value);
                        assert!(arn.contains("${") && !arn.ends_with(":*"), "{name}: {arn}");
                    }
                }
            }
        }
    }
}

/// `!Sub "…"` → its string; `!Ref X` → "X".
fn tagged_text<'a>(v: &'a Value, tag: &str) -> &'a str {
    match v {
        Value::Tagged(tagged) if tagged.tag == tag => text(&tagged.value),
        _ => "",
    }
}

#[test]
fn each_function_is_the_principal_the_local_stack_signs_as() {
    let t = template();
    use shared::aws::{API_FUNCTION, WEBSOCKET_FUNCTION, WORKER_FUNCTION};
    for name in [API_FUNCTION, WORKER_FUNCTION, WEBSOCKET_FUNCTION] {
        assert_eq!(text(&resource(&t, name)["Type"]), "AWS::Serverless::Function", "{name}");
    }
}

#[test]
fn logs_go_to_the_stacks_own_groups_with_platform_lines_from_warn() {
    let t = template();
    let logging = &t["Globals"]["Function"]["LoggingConfig"];
    assert_eq!(text(&logging["LogFormat"]), "JSON");
    assert_eq!(text(&logging["SystemLogLevel"]), "WARN");
    for (function, group) in [
        ("ApiFunction", "ApiLogGroup"),
        ("WorkerFunction", "WorkerLogGroup"),
        ("WebSocketFunction", "WebSocketLogGroup"),
    ] {
        let logging = &resource(&t, function)["Properties"]["LoggingConfig"];
        assert_eq!(tagged_text(&logging["LogGroup"], "!Ref"), group, "{function}");
        // Lambda creates /aws/lambda/{function} itself: a group of that name would collide with it.
        let name = tagged_text(&resource(&t, group)["Properties"]["LogGroupName"], "!Sub");
        assert!(name.starts_with("/ocpp-bulk/${AWS::StackName}/"), "{group}: {name}");
    }
    let filter = &resource(&t, "HandoffMetricFilter")["Properties"];
    assert_eq!(tagged_text(&filter["LogGroupName"], "!Ref"), "WebSocketLogGroup");
    let pattern = text(&filter["FilterPattern"]);
    let (answers, parts) = (websocket::frames::HANDOFF_LOG, websocket::reports::PART_HANDOFF_LOG);
    let notes = websocket::follow_ups::NOTIFICATION_HANDOFF_LOG;
    let lines = format!("($.message = \"{answers}\") || ($.message = \"{parts}\") || ($.message = \"{notes}\")");
    assert_eq!(pattern, format!("{{ {lines} }}"));
}

#[test]
fn the_websocket_stage_deploys_every_change() {
    let t = template();
    let stage = resource(&t, "WebSocketStage");
    assert_eq!(stage["Properties"]["AutoDeploy"], Value::Bool(true));
    let after: BTreeSet<&str> = stage["DependsOn"].as_sequence().expect("DependsOn").iter().map(text).collect();
    for route in ["ConnectRoute", "DefaultRoute", "DisconnectRoute", "ChargerAuthorizer"] {
        assert!(after.contains(route), "the stage's first deployment must have {route}");
    }
    let resources = t["Resources"].as_mapping().expect("Resources");
    assert!(
        !resources.values().any(|r| text(&r["Type"]) == "AWS::ApiGatewayV2::Deployment"),
        "a Deployment resource is never made again: it would pin the stage to the first API"
    );
}

#[test]
fn the_charger_authorizer_is_never_cached() {
    // A frame's OCPP version comes from the `$connect` authorizer's context: an answer cached by
    // identity would hand one handshake's version to another (HTTP APIs cache; WebSocket APIs may not).
    let t = template();
    let properties = &resource(&t, "ChargerAuthorizer")["Properties"];
    for cached_by in ["AuthorizerResultTtlInSeconds", "IdentitySource"] {
        assert!(properties.get(cached_by).is_none(), "ChargerAuthorizer must not set {cached_by}");
    }
}

#[test]
fn parameters_allow_only_what_cloudformation_accepts() {
    let t = template();
    let warm = &t["Parameters"]["RunsTableWarmWriteUnits"]["AllowedValues"];
    let values: Vec<u64> = warm.as_sequence().expect("AllowedValues").iter().filter_map(Value::as_u64).collect();
    assert!(values.contains(&0) && values.iter().all(|v| *v == 0 || (4_000..=40_000).contains(v)), "{values:?}");
    for function in ["WorkerFunction", "WebSocketFunction"] {
        let variables = &resource(&t, function)["Properties"]["Environment"]["Variables"];
        let endpoint = tagged_text(&variables["WEBSOCKET_MANAGEMENT_ENDPOINT"], "!Sub");
        assert!(
            endpoint.contains(".execute-api.${AWS::Region}.${AWS::URLSuffix}/${StageName}"),
            "{function}: {endpoint}"
        );
    }
}

/// The worker feeds its own queue on purpose, so it allows recursive loops, as the local poller
/// assumes by default (`ocpp_bulk::lambda_like::RecursiveLoop`); the other functions keep Lambda's
/// default, and an alarm watches every function's dropped invocations.
#[test]
fn only_the_worker_allows_recursive_loops_and_drops_raise_an_alarm() {
    use ocpp_bulk::lambda_like::RecursiveLoop;
    let t = template();
    let worker = &resource(&t, "WorkerFunction")["Properties"];
    assert_eq!(text(&worker["RecursiveLoop"]), RecursiveLoop::default().name());
    assert_eq!(RecursiveLoop::default(), RecursiveLoop::Allow);
    for name in ["ApiFunction", "WebSocketFunction"] {
        assert!(resource(&t, name)["Properties"]["RecursiveLoop"].is_null(), "{name} keeps Terminate");
    }
    assert!(t["Globals"]["Function"]["RecursiveLoop"].is_null());
    let alarm = serde_yaml::to_string(&resource(&t, "RecursiveLoopAlarm")["Properties"]["Metrics"]).unwrap();
    for function in ["ApiFunction", "WorkerFunction", "WebSocketFunction"] {
        assert!(alarm.contains(function), "{function} in {alarm}");
    }
    assert_eq!(alarm.matches("RecursiveInvocationsDropped").count(), 4, "{alarm}");
}

/// API Gateway gives up on an integration after 30 s (HTTP API) or 29 s (WebSocket API): the
/// functions behind them stop first, so a long request ends where it can still be answered.
#[test]
fn functions_behind_api_gateway_stop_before_it_gives_up() {
    let t = template();
    for (name, gateway_gives_up) in [("ApiFunction", 30), ("WebSocketFunction", 29)] {
        let own = &resource(&t, name)["Properties"]["Timeout"];
        let timeout = own.as_u64().or_else(|| t["Globals"]["Function"]["Timeout"].as_u64()).expect("a timeout");
        assert!(timeout < gateway_gives_up, "{name}: {timeout} s against API Gateway's {gateway_gives_up} s");
    }
}

/// Every index's throttles raise an alarm as the tables' do, and no alarm on metric math reads more
/// than the 10 metrics CloudWatch allows one ("Alarms based on metric math expressions can reference
/// a maximum of 10 metrics", CloudWatch User Guide, alarm limits): a deploy would fail on it.
#[test]
fn index_throttles_raise_an_alarm_and_no_alarm_reads_over_ten_metrics() {
    let t = template();
    let alarm = serde_yaml::to_string(&resource(&t, "IndexThrottlesAlarm")["Properties"]["Metrics"]).unwrap();
    let resources = t["Resources"].as_mapping().expect("resources");
    for (name, table) in resources {
        let indexes = table["Properties"]["GlobalSecondaryIndexes"].as_sequence().cloned().unwrap_or_default();
        for index in indexes {
            let index = text(&index["IndexName"]);
            let watched = alarm.matches(&format!("Value: {index}\n")).count();
            assert_eq!(watched, 2, "{name:?}'s index {index}: its read and write throttles, in {alarm}");
        }
    }
    for (name, alarm) in resources {
        let read = alarm["Properties"]["Metrics"]
            .as_sequence()
            .map_or(0, |m| m.iter().filter(|q| !q["MetricStat"].is_null()).count());
        assert!(read <= 10, "{name:?} reads {read} metrics");
    }
}
