//! A small JSON Schema (2020-12, as OpenAPI 3.1 uses it) checker for the subset the
//! admin API's document uses: `$ref`, `allOf`, `type` (one or a list), `properties`,
//! `required`, `items`, `format` (uuid, date-time) and `minimum`. Objects may hold no
//! member their schema does not name: the document must describe every field.

use serde_json::Value;

pub struct Doc<'a> {
    pub root: &'a Value,
}

impl Doc<'_> {
    fn resolve<'s>(&'s self, schema: &'s Value) -> &'s Value {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let name = r.trim_start_matches("#/components/schemas/");
                self.resolve(&self.root["components"]["schemas"][name])
            }
            None => schema,
        }
    }

    /// Every member an object of `schema` may have, with its schema.
    fn properties<'s>(&'s self, schema: &'s Value) -> Vec<(&'s str, &'s Value)> {
        let s = self.resolve(schema);
        let mut all: Vec<(&str, &Value)> = s
            .get("properties")
            .and_then(Value::as_object)
            .map(|m| m.iter().map(|(k, v)| (k.as_str(), v)).collect())
            .unwrap_or_default();
        for sub in s.get("allOf").and_then(Value::as_array).into_iter().flatten() {
            all.extend(self.properties(sub));
        }
        all
    }

    fn required<'s>(&'s self, schema: &'s Value) -> Vec<&'s str> {
        let s = self.resolve(schema);
        let mut all: Vec<&str> = s
            .get("required")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        for sub in s.get("allOf").and_then(Value::as_array).into_iter().flatten() {
            all.extend(self.required(sub));
        }
        all
    }

    /// Checks `v` against `schema`; the first mismatch, with its path.
    pub fn check(&self, v: &Value, schema: &Value, at: &str) -> Result<(), String> {
        let s = self.resolve(schema);
        if let Some(types) = s.get("type") {
            let allowed: Vec<&str> = match types {
                Value::String(t) => vec![t.as_str()],
                Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                _ => vec![],
            };
            let actual = match v {
                Value::Null => "null",
                Value::Bool(_) => "boolean",
                Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
                Value::Number(_) => "number",
                Value::String(_) => "string",
                Value::Array(_) => "array",
                Value::Object(_) => "object",
            };
            let ok = allowed.contains(&actual) || (actual == "integer" && allowed.contains(&"number"));
            if !ok {
                return Err(format!("{at}: {actual} where the document says {allowed:?}"));
            }
        }
        if let (Some(f), Some(text)) = (s.get("format").and_then(Value::as_str), v.as_str()) {
            let good = match f {
                "uuid" => uuid::Uuid::parse_str(text).is_ok(),
                "date-time" => chrono::DateTime::parse_from_rfc3339(text).is_ok(),
                _ => true,
            };
            if !good {
                return Err(format!("{at}: {text:?} is not a {f}"));
            }
        }
        if let (Some(min), Some(n)) = (s.get("minimum").and_then(Value::as_f64), v.as_f64())
            && n < min
        {
            return Err(format!("{at}: {n} below the minimum {min}"));
        }
        match v {
            Value::Array(items) => {
                if let Some(item) = s.get("items") {
                    for (i, x) in items.iter().enumerate() {
                        self.check(x, item, &format!("{at}[{i}]"))?;
                    }
                }
            }
            Value::Object(map) => {
                let props = self.properties(s);
                if !props.is_empty() {
                    for (k, x) in map {
                        let Some((_, p)) = props.iter().find(|(name, _)| name == k) else {
                            return Err(format!("{at}.{k}: a member the document does not describe"));
                        };
                        self.check(x, p, &format!("{at}.{k}"))?;
                    }
                }
                for r in self.required(s) {
                    if !map.contains_key(r) {
                        return Err(format!("{at}.{r}: required by the document, missing"));
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The schema of the answer `status` to `method path` (`path` as the document
    /// writes it, with `{id}`).
    pub fn response(&self, method: &str, path: &str, status: u16) -> Option<&Value> {
        let r = &self.root["paths"][path][method]["responses"][status.to_string()];
        r.get("content")?.as_object()?.values().next()?.get("schema")
    }
}
