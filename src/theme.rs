//! Themes: minijinja templates and static assets. The default theme (`themes/default/`)
//! is embedded in the binary; a file of the same relative path in `theme_dir` overrides
//! it, so an operator can restyle any page or mail by name.
//!
//! Layout of a theme: `templates/<page>.html`, `mail/<name>.{subject.txt,txt,html}`,
//! `static/<asset>`.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use minijinja::{Environment, ErrorKind};
use rust_embed::RustEmbed;
use serde::Serialize;

#[derive(RustEmbed)]
#[folder = "themes/default/"]
#[include = "templates/*"]
#[include = "mail/*"]
#[include = "static/*"]
struct DefaultTheme;

/// A template could not be found or rendered.
#[derive(Debug, thiserror::Error)]
#[error("template {name}: {source}")]
pub struct ThemeError {
    pub name: String,
    #[source]
    pub source: minijinja::Error,
}

/// The loaded theme; cheap to clone.
#[derive(Clone)]
pub struct Theme {
    env: Arc<Environment<'static>>,
    dir: Option<PathBuf>,
}

impl std::fmt::Debug for Theme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Theme").field("dir", &self.dir).finish()
    }
}

/// A relative path inside a theme, or None when it tries to leave it.
fn safe_relative(name: &str) -> Option<&Path> {
    let p = Path::new(name);
    let ok = !name.is_empty()
        && p.components().all(|c| matches!(c, std::path::Component::Normal(_)))
        && !name.contains('\\');
    ok.then_some(p)
}

impl Theme {
    /// The default theme, overridden file by file from `dir` when given.
    pub fn new(dir: Option<PathBuf>) -> Self {
        let mut env = Environment::new();
        let loader_dir = dir.clone();
        env.set_loader(move |name: &str| {
            let Some(rel) = safe_relative(name) else {
                return Err(minijinja::Error::new(
                    ErrorKind::InvalidOperation,
                    "template path leaves the theme",
                ));
            };
            if let Some(dir) = &loader_dir {
                match std::fs::read_to_string(dir.join(rel)) {
                    Ok(s) => return Ok(Some(s)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        return Err(
                            minijinja::Error::new(ErrorKind::InvalidOperation, "cannot read theme file").with_source(e),
                        );
                    }
                }
            }
            Ok(DefaultTheme::get(name).map(|f| String::from_utf8_lossy(&f.data).into_owned()))
        });
        // `.html` templates are HTML-escaped; `.txt` (mail text, subjects) are not.
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".html") {
                minijinja::AutoEscape::Html
            } else {
                minijinja::AutoEscape::None
            }
        });
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
        Self {
            env: Arc::new(env),
            dir,
        }
    }

    /// Renders the template `name` (e.g. `templates/index.html`) with `ctx`.
    pub fn render(&self, name: &str, ctx: impl Serialize) -> Result<String, ThemeError> {
        let err = |source| ThemeError {
            name: name.to_string(),
            source,
        };
        let tmpl = self.env.get_template(name).map_err(err)?;
        tmpl.render(minijinja::value::Serde(ctx)).map_err(err)
    }

    /// A static asset (`static/<path>`) from the override directory or the default theme.
    pub fn asset(&self, path: &str) -> Option<Cow<'static, [u8]>> {
        let rel = safe_relative(path)?;
        let full = Path::new("static").join(rel);
        if let Some(dir) = &self.dir
            && let Ok(bytes) = std::fs::read(dir.join(&full))
        {
            return Some(Cow::Owned(bytes));
        }
        DefaultTheme::get(full.to_str()?).map(|f| f.data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn override_directory_wins_by_name_and_paths_cannot_escape() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("mail")).unwrap();
        std::fs::write(dir.path().join("mail/test.subject.txt"), "Custom {{ name }}").unwrap();
        let theme = Theme::new(Some(dir.path().to_path_buf()));
        assert_eq!(
            theme
                .render("mail/test.subject.txt", serde_json::json!({"name": "x"}))
                .unwrap(),
            "Custom x"
        );
        // Not overridden: falls back to the embedded default.
        assert!(theme.render("mail/test.txt", serde_json::json!({})).is_ok());
        assert!(theme.render("../secret", serde_json::json!({})).is_err());
        assert!(theme.asset("../Cargo.toml").is_none());
        assert!(theme.asset("app.css").is_some());
    }

    #[test]
    fn html_is_escaped_text_is_not() {
        let theme = Theme::new(None);
        let html = theme
            .render(
                "mail/test.html",
                serde_json::json!({"issuer": "<b>x</b>", "product": "Gatehouse"}),
            )
            .unwrap();
        assert!(html.contains("&lt;b&gt;x") && !html.contains("<b>"), "{html}");
        let text = theme
            .render(
                "mail/test.txt",
                serde_json::json!({"issuer": "<b>x</b>", "product": "Gatehouse"}),
            )
            .unwrap();
        assert!(text.contains("<b>x</b>"));
    }
}
