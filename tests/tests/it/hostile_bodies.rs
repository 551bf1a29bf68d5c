//! Malformed and hostile bodies on every JSON endpoint get a 4xx with the API's error body,
//! never a 5xx. The endpoints are those of the route table whose OpenAPI description takes a
//! JSON body, and the well-formed starting points are built from their request schemas, so a
//! new JSON endpoint is covered without anyone writing a line here.
//!
//! Each case sends one body, as an admin with a valid anti-forgery token (so the body reaches
//! the handler) or as no one: random bytes, truncated JSON, a field of the wrong type, a huge
//! number, deep nesting, a huge string, or the wrong content type. Every generated body is
//! invalid by construction (a complete, well-typed body is never sent), so 4xx is the only
//! right answer.

use backend::routes::{Route, Verb, routes};
use proptest::prelude::*;
use serde_json::{Value, json};
use shared::api::{ErrorBody, Role};
use tests::{TestServer, demo_config};

/// A demo account (the matrix's account for `{account}`).
const ACCOUNT: &str = "demo-eurusd-scalper";

/// One hostile request body.
#[derive(Clone, Debug)]
enum Hostile {
    /// Arbitrary bytes sent as JSON.
    Bytes(Vec<u8>),
    /// The well-formed body cut short (a proper prefix of a JSON object is never JSON).
    Truncated(usize),
    /// One field replaced by a value of another JSON type.
    WrongType(usize, Value),
    /// One field replaced by a number no field can hold.
    HugeNumber(usize, &'static str),
    /// One field (or the whole body) nested this deep.
    Deep(Option<usize>, usize),
    /// One field replaced by a string this long (more than any field accepts).
    HugeString(usize, usize),
    /// The well-formed body with this content type (or none).
    ContentType(Option<&'static str>),
}

fn hostile() -> impl Strategy<Value = Hostile> {
    use proptest::sample::select;
    let field = 0usize..8;
    let wrong = select(vec![
        json!(0),
        json!(-1),
        json!(1.5),
        json!(true),
        Value::Null,
        json!([]),
        json!({}),
        json!("text"),
        json!(["a", 1, null]),
        json!({"nested": {"deeper": [1, 2]}}),
    ]);
    let huge = select(vec![
        "1e400",
        "-1e400",
        "123456789012345678901234567890",
        "-9223372036854775809",
        "18446744073709551616",
        "0.0000000000000000000000000000001",
    ]);
    let content_types = select(vec![
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("application/jsonx"),
        Some("multipart/form-data; boundary=x"),
    ]);
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..512).prop_map(Hostile::Bytes),
        (0usize..10_000).prop_map(Hostile::Truncated),
        (field.clone(), wrong).prop_map(|(f, v)| Hostile::WrongType(f, v)),
        (field.clone(), huge).prop_map(|(f, n)| Hostile::HugeNumber(f, n)),
        (proptest::option::of(field.clone()), 100usize..20_000)
            .prop_map(|(f, depth)| Hostile::Deep(f, depth)),
        (field, 1_100usize..60_000).prop_map(|(f, len)| Hostile::HugeString(f, len)),
        content_types.prop_map(Hostile::ContentType),
    ]
}

/// A JSON endpoint with a well-formed body for it.
struct Endpoint {
    route: Route,
    path: String,
    template: serde_json::Map<String, Value>,
}

/// A well-formed value of `schema` (following references into `components`).
fn example(schema: &Value, components: &Value) -> Value {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.rsplit('/').next().unwrap_or_default();
        return example(&components[name], components);
    }
    if let Some(first) = schema["enum"].as_array().and_then(|values| values.first()) {
        return first.clone();
    }
    let kind = match &schema["type"] {
        Value::Array(kinds) => kinds.first().cloned().unwrap_or(Value::Null),
        other => other.clone(),
    };
    match kind.as_str() {
        Some("string") => json!("correct-horse-battery-staple"),
        Some("integer") | Some("number") => json!(1),
        Some("boolean") => json!(true),
        Some("array") => json!([]),
        Some("object") => {
            let mut object = serde_json::Map::new();
            if let Some(properties) = schema["properties"].as_object() {
                for (name, property) in properties {
                    object.insert(name.clone(), example(property, components));
                }
            }
            Value::Object(object)
        }
        _ => Value::Null,
    }
}

/// Every route of the table that takes a JSON body, with its path filled in.
fn endpoints(spare_user: &str) -> Vec<Endpoint> {
    let document = serde_json::to_value(backend::openapi::document()).expect("document");
    let components = &document["components"]["schemas"];
    routes()
        .into_iter()
        .filter(backend::openapi::takes_json)
        .map(|route| {
            let method = route.verb.method().as_str().to_lowercase();
            let schema =
                &document["paths"][route.path][&method]["requestBody"]["content"]["application/json"]["schema"];
            let Value::Object(template) = example(schema, components) else {
                panic!("{}: the request body is not an object", route.path);
            };
            assert!(!template.is_empty(), "{}: no fields", route.path);
            let path = route
                .path
                .replace("{account}", ACCOUNT)
                .replace("{user}", spare_user)
                .replace("{program}", "no-such-program")
                .replace("{competition}", "no-such-competition");
            assert!(!path.contains('{'), "fill in {}", route.path);
            Endpoint {
                route,
                path,
                template,
            }
        })
        .collect()
}

/// The body and content type of one hostile request.
fn body_of(endpoint: &Endpoint, hostile: &Hostile) -> (Option<&'static str>, Vec<u8>) {
    const JSON: Option<&str> = Some("application/json");
    let fields: Vec<&String> = endpoint.template.keys().collect();
    let pick = |f: usize| fields[f % fields.len()].clone();
    let well_formed = Value::Object(endpoint.template.clone()).to_string();
    // The template with one field's value replaced by raw JSON text.
    let with_raw = |f: usize, raw: &str| {
        let mut object = endpoint.template.clone();
        object.insert(pick(f), json!("\u{1}PLACEHOLDER\u{1}"));
        Value::Object(object)
            .to_string()
            .replace("\"\\u0001PLACEHOLDER\\u0001\"", raw)
            .into_bytes()
    };
    match hostile {
        Hostile::Bytes(bytes) => (JSON, bytes.clone()),
        Hostile::Truncated(at) => {
            let cut = at % well_formed.len();
            (JSON, well_formed.as_bytes()[..cut].to_vec())
        }
        Hostile::WrongType(f, value) => {
            let name = pick(*f);
            let original = &endpoint.template[&name];
            let same_type = std::mem::discriminant(original) == std::mem::discriminant(value);
            // Money is written as a string but read from a number too (`"7"` and `7` alike).
            let money_as_number = value.is_number()
                && original
                    .as_str()
                    .is_some_and(|text| text.parse::<rust_decimal::Decimal>().is_ok());
            // A value of the same JSON type might be valid: use one that cannot be (not a
            // number for a string, for the same reason).
            let value = if same_type || money_as_number {
                match original {
                    Value::String(_) => json!(true),
                    _ => json!("seven"),
                }
            } else {
                value.clone()
            };
            let mut object = endpoint.template.clone();
            object.insert(name, value);
            (JSON, Value::Object(object).to_string().into_bytes())
        }
        Hostile::HugeNumber(f, number) => (JSON, with_raw(*f, number)),
        Hostile::Deep(field, depth) => {
            let nested = format!("{}{}", "[".repeat(*depth), "]".repeat(*depth));
            match field {
                Some(f) => (JSON, with_raw(*f, &nested)),
                None => (JSON, nested.into_bytes()),
            }
        }
        Hostile::HugeString(f, len) => {
            let mut object = endpoint.template.clone();
            object.insert(pick(*f), json!("A".repeat(*len)));
            (JSON, Value::Object(object).to_string().into_bytes())
        }
        Hostile::ContentType(content_type) => (*content_type, well_formed.into_bytes()),
    }
}

async fn send(
    server: &TestServer,
    client: &reqwest::Client,
    endpoint: &Endpoint,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> (u16, String) {
    assert_eq!(endpoint.route.verb, Verb::Post);
    // A refusal sent before the body was read (403, 415, 413) ends that connection; a pooled
    // connection can be closing as the next request goes out on it (the client then sees an
    // incomplete message, not an answer). The request is sent again on a new connection: what
    // this test asks is what the server answers, and it never answers 5xx or hangs up instead.
    let mut attempt = 0;
    let response = loop {
        attempt += 1;
        let mut request = client.post(server.url(&endpoint.path)).body(body.clone());
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        match request.send().await {
            Ok(response) => break response,
            Err(error) if error.is_request() && attempt < 3 => continue,
            Err(error) => panic!("request: {error:?}"),
        }
    };
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

#[test]
fn hostile_bodies_on_every_json_endpoint_get_a_4xx_error_body() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, admin, spare) = runtime.block_on(async {
        let server = TestServer::start(demo_config(&dir.path().join("r.db")))
            .await
            .expect("server");
        let admin = server.session_for("admin").await.expect("admin");
        let spare = server
            .state
            .store
            .create_user("spare", "not-a-hash", Role::Trader)
            .await
            .expect("create")
            .expect("a new user");
        (server, admin, spare)
    });
    let endpoints = endpoints(&spare.id.to_string());
    let paths: Vec<&str> = endpoints.iter().map(|e| e.route.path).collect();
    for expected in [
        "/api/auth/login",
        "/api/users",
        "/api/users/{user}/password",
    ] {
        assert!(paths.contains(&expected), "{expected} not in {paths:?}");
    }
    let anonymous = reqwest::Client::new();
    let seen = std::sync::Mutex::new(std::collections::BTreeMap::<u16, u32>::new());
    let config = ProptestConfig {
        cases: 160,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(which in 0usize..64, as_admin in any::<bool>(), hostile in hostile())| {
        let endpoint = &endpoints[which % endpoints.len()];
        let (content_type, body) = body_of(endpoint, &hostile);
        let client = if as_admin { &admin.client } else { &anonymous };
        let (status, text) =
            runtime.block_on(send(&server, client, endpoint, content_type, body));
        let error = serde_json::from_str::<ErrorBody>(&text);
        *seen.lock().expect("tally").entry(status).or_default() += 1;
        let ok = (400..500).contains(&status)
            && error.as_ref().is_ok_and(|e| !e.error.is_empty() && !e.message.is_empty());
        prop_assert!(
            ok,
            "{} as {}: {hostile:?} -> {status} {text}",
            endpoint.route.path,
            if as_admin { "admin" } else { "anonymous" }
        );
    });

    // The bodies reached the parser and the handlers, not only the access checks: each kind
    // of refusal was seen.
    let seen = seen.into_inner().expect("tally");
    for status in [400, 401, 415, 422] {
        assert!(seen.contains_key(&status), "no {status} among {seen:?}");
    }

    // A body over the limit (the route's own, when it takes files) is refused as such.
    runtime.block_on(async {
        for endpoint in &endpoints {
            let mut object = endpoint.template.clone();
            let first = endpoint.template.keys().next().cloned().expect("a field");
            let over = backend::routes::body_limit(&endpoint.route) + 16 * 1024;
            object.insert(first, json!("B".repeat(over)));
            let body = Value::Object(object).to_string().into_bytes();
            let (status, text) = send(
                &server,
                &admin.client,
                endpoint,
                Some("application/json"),
                body,
            )
            .await;
            assert_eq!(status, 413, "{}: {text}", endpoint.path);
            let error: ErrorBody = serde_json::from_str(&text).expect("error body");
            assert_eq!(error.error, "payload_too_large");
        }
        server.stop().await;
    });
}
