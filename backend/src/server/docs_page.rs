//! `/api/v1/docs`: a human-readable API reference rendered on the server from the OpenAPI
//! document, so it works offline (no CDN, no script).

use std::fmt::Write;

use axum::extract::State;
use axum::response::Html;
use serde_json::Value;

use super::static_files::html_escape;
use super::AppState;

const STYLE: &str =
    "body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em;line-height:1.4}\
code,pre{background:#f4f4f4;padding:0 .2em}table{border-collapse:collapse;margin:.5em 0}\
td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left;vertical-align:top}\
.m{font-weight:bold;text-transform:uppercase;padding:0 .4em;border-radius:3px;background:#def}\
h3{margin-top:1.5em;border-top:1px solid #ddd;padding-top:.5em}";

/// `GET /api/v1/docs`.
pub async fn page(State(state): State<AppState>) -> Html<String> {
    Html(state.docs_html.as_ref().clone())
}

/// Render the whole page from the OpenAPI JSON (done once at start-up).
pub fn render(openapi_json: &str) -> String {
    let doc: Value = serde_json::from_str(openapi_json).unwrap_or_default();
    let title = text(&doc["info"]["title"]);
    let mut out = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title} API</title><style>{STYLE}</style></head><body>"
    );
    let _ = write!(
        out,
        "<h1>{title} API <small>{}</small></h1><p>{}</p><p>Machine-readable: <a href=\"/api/v1/openapi.json\">openapi.json</a>. \
         Errors are always <code>{{\"error\": {{\"code\", \"message\", \"fields\"}}}}</code>.</p><h2>Endpoints</h2>",
        text(&doc["info"]["version"]),
        text(&doc["info"]["description"])
    );
    render_paths(&mut out, &doc["paths"]);
    out.push_str("<h2>Schemas</h2>");
    render_schemas(&mut out, &doc["components"]["schemas"]);
    out.push_str("</body></html>");
    out
}

fn render_paths(out: &mut String, paths: &Value) {
    let Some(paths) = paths.as_object() else {
        return;
    };
    for (path, methods) in paths {
        let Some(methods) = methods.as_object() else {
            continue;
        };
        for (method, op) in methods {
            let _ = write!(
                out,
                "<h3><span class=\"m\">{}</span> <code>{}</code></h3><p>{}</p>",
                html_escape(method),
                html_escape(path),
                text(&op["description"]).or_else_text(&op["summary"])
            );
            if let Some(body) = op["requestBody"]["content"].as_object() {
                for (media, content) in body {
                    let _ = write!(
                        out,
                        "<p>Body ({}): {}</p>",
                        html_escape(media),
                        schema_ref(&content["schema"])
                    );
                }
            }
            render_responses(out, &op["responses"]);
        }
    }
}

fn render_responses(out: &mut String, responses: &Value) {
    let Some(responses) = responses.as_object() else {
        return;
    };
    out.push_str("<table><tr><th>Status</th><th>Meaning</th><th>Body</th></tr>");
    for (status, response) in responses {
        let body = response["content"]
            .as_object()
            .map(|c| {
                c.iter()
                    .map(|(media, v)| {
                        format!("{} {}", html_escape(media), schema_ref(&v["schema"]))
                    })
                    .collect::<Vec<_>>()
                    .join("<br>")
            })
            .unwrap_or_default();
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{body}</td></tr>",
            html_escape(status),
            text(&response["description"])
        );
    }
    out.push_str("</table>");
}

fn render_schemas(out: &mut String, schemas: &Value) {
    let Some(schemas) = schemas.as_object() else {
        return;
    };
    for (name, schema) in schemas {
        let _ = write!(
            out,
            "<h3 id=\"{0}\"><code>{0}</code></h3><p>{1}</p>",
            html_escape(name),
            text(&schema["description"])
        );
        render_schema_body(out, schema);
    }
}

fn render_schema_body(out: &mut String, schema: &Value) {
    if let Some(props) = schema["properties"].as_object() {
        let required: Vec<&str> = schema["required"]
            .as_array()
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        out.push_str("<table><tr><th>Field</th><th>Type</th><th>Description</th></tr>");
        for (field, prop) in props {
            let mark = if required.contains(&field.as_str()) {
                " (required)"
            } else {
                ""
            };
            let _ = write!(
                out,
                "<tr><td><code>{}</code>{mark}</td><td>{}</td><td>{}</td></tr>",
                html_escape(field),
                schema_ref(prop),
                text(&prop["description"])
            );
        }
        out.push_str("</table>");
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(variants) = schema[key].as_array() {
            let _ = write!(out, "<p>{key}:</p><ul>");
            for variant in variants {
                out.push_str("<li>");
                let _ = write!(out, "{}", text(&variant["description"]));
                render_schema_body(out, variant);
                if variant["properties"].is_null() {
                    out.push_str(&schema_ref(variant));
                }
                out.push_str("</li>");
            }
            out.push_str("</ul>");
        }
    }
    if let Some(values) = schema["enum"].as_array() {
        let values: Vec<String> = values.iter().map(|v| html_escape(&v.to_string())).collect();
        let _ = write!(
            out,
            "<p>One of: <code>{}</code></p>",
            values.join("</code>, <code>")
        );
    }
}

/// A short type description with links to named schemas.
fn schema_ref(schema: &Value) -> String {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = html_escape(reference.rsplit('/').next().unwrap_or(reference));
        return format!("<a href=\"#{name}\">{name}</a>");
    }
    if let Some(items) = schema.get("items") {
        return format!("array of {}", schema_ref(items));
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(variants) = schema[key].as_array() {
            return variants
                .iter()
                .map(schema_ref)
                .collect::<Vec<_>>()
                .join(" | ");
        }
    }
    match &schema["type"] {
        Value::String(t) => html_escape(t),
        Value::Array(ts) => ts.iter().map(text).collect::<Vec<_>>().join(" | "),
        _ if schema["enum"].is_array() => "enum".to_string(),
        _ => "object".to_string(),
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => html_escape(s),
        Value::Null => String::new(),
        other => html_escape(&other.to_string()),
    }
}

trait OrElseText {
    fn or_else_text(self, other: &Value) -> String;
}

impl OrElseText for String {
    fn or_else_text(self, other: &Value) -> String {
        if self.is_empty() {
            text(other)
        } else {
            self
        }
    }
}
