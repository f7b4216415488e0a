//! A headless login: the provider's own HTML pages, walked without a
//! browser. From a start URL, redirects are followed and on each page the
//! form that has the `login` block's fields is filled in and submitted
//! (hidden inputs such as CSRF tokens kept, cookies kept), or else the
//! consent form's approving button pressed, until a redirect reaches the
//! client's redirect URI: the code is read from its `Location`, which is
//! never requested.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use reqwest::cookie::CookieStore as _;
use scraper::{ElementRef, Html, Selector};

use super::tokens::TokenError;
use crate::http::{Exchange, Http};
use crate::results::{Attempt, AttemptKind, FailureClass};
use crate::secrets::Redactor;

/// Pages (requests) a login may take.
const MAX_PAGES: usize = 10;

/// Words on a consent page's approving button, when the spec names none.
const APPROVING: &[&str] = &[
    "allow",
    "approve",
    "accept",
    "authorize",
    "authorise",
    "consent",
    "continue",
    "confirm",
    "grant",
    "agree",
    "yes",
];

/// Words on a button that says no; such a button is never pressed.
const DECLINING: &[&str] = &[
    "deny", "cancel", "abort", "reject", "decline", "refuse", "no", "don't", "dont", "not",
];

/// Forms and controls of a page looked at: a login page has a few; a
/// hostile one must not cost more.
const MAX_FORMS: usize = 100;
const MAX_CONTROLS: usize = 5_000;

/// A `login` block with its values resolved.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResolvedLogin {
    /// Form fields to fill in, by name.
    pub fields: Vec<(String, String)>,
    /// The values that are secrets: marked `secret(...)`, or of a field
    /// whose name says so (a password, a one-time code).
    pub secrets: Vec<String>,
    /// The approving button's name, value or text.
    pub consent: Option<String>,
}

/// An HTML form as a browser would submit it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Form {
    pub method: String,
    /// As written (relative to the page).
    pub action: String,
    /// Successful controls with their current values, in order.
    pub fields: Vec<(String, String)>,
    /// The fields a person sees (not `type=hidden`).
    pub visible: BTreeSet<String>,
    pub buttons: Vec<Button>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Button {
    pub name: Option<String>,
    pub value: Option<String>,
    pub text: String,
}

impl Button {
    fn matches(&self, wanted: &str) -> bool {
        let wanted = wanted.trim().to_lowercase();
        [
            self.name.as_deref(),
            self.value.as_deref(),
            Some(self.text.as_str()),
        ]
        .into_iter()
        .flatten()
        .any(|s| s.trim().to_lowercase() == wanted)
    }

    /// Its words: the text a person reads, else its value.
    fn words(&self) -> Vec<String> {
        let shown = if self.text.trim().is_empty() {
            self.value.as_deref().unwrap_or_default()
        } else {
            &self.text
        };
        (shown.to_lowercase())
            .split(|c: char| !c.is_alphanumeric() && c != '\'')
            .filter(|w| !w.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// Whether it says no: deny, cancel, abort, "Don't allow", ...
    fn declines(&self) -> bool {
        let said = |w: &str| DECLINING.contains(&w);
        self.words().iter().any(|w| said(w))
            || [self.name.as_deref(), self.value.as_deref()]
                .into_iter()
                .flatten()
                .any(|s| said(&s.to_lowercase()))
    }

    fn approves(&self) -> bool {
        !self.declines() && self.words().iter().any(|w| APPROVING.contains(&w.as_str()))
    }

    /// What pressing it adds to the form.
    fn pressed(&self) -> Option<(String, String)> {
        (self.name.clone()).map(|n| (n, self.value.clone().unwrap_or_default()))
    }
}

/// A page's title and forms.
pub(crate) struct Page {
    pub title: String,
    pub forms: Vec<Form>,
    /// The text of elements that look like an error message.
    pub alert: Option<String>,
}

fn selector(css: &str) -> Selector {
    Selector::parse(css).expect("the selectors here are valid")
}

fn text(e: &ElementRef) -> String {
    e.text()
        .collect::<Vec<_>>()
        .join(" ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Parses a page: its forms' controls as a browser would submit them
/// (checked boxes only, the selected option, no file inputs), and its
/// buttons.
pub(crate) fn parse_page(html: &str) -> Page {
    let doc = Html::parse_document(html);
    let title = (doc.select(&selector("title")).next())
        .map(|t| text(&t))
        .unwrap_or_default();
    let alert = doc
        .select(&selector(
            "[role=alert], .error, .alert, .alert-danger, #error",
        ))
        .map(|e| text(&e))
        .find(|t| !t.is_empty());
    let options = selector("option");
    let form_elements: Vec<ElementRef> = doc.select(&selector("form")).take(MAX_FORMS).collect();
    let mut forms: Vec<Form> = (form_elements.iter())
        .map(|form| {
            let attr = |name: &str| form.value().attr(name).unwrap_or_default().to_string();
            let method = attr("method").to_ascii_uppercase();
            Form {
                method: if method == "POST" {
                    method
                } else {
                    "GET".into()
                },
                action: attr("action"),
                fields: Vec::new(),
                visible: BTreeSet::new(),
                buttons: Vec::new(),
            }
        })
        .collect();
    // Each control belongs to the form it names (`form="ID"`, as
    // oidc-provider's device pages have their buttons), else to the form
    // it is in: one pass over the controls.
    let by_id: std::collections::HashMap<&str, usize> = (form_elements.iter().enumerate())
        .filter_map(|(i, f)| Some((f.value().attr("id")?, i)))
        .collect();
    let by_node: std::collections::HashMap<_, usize> = (form_elements.iter().enumerate())
        .map(|(i, f)| (f.id(), i))
        .collect();
    let control_selector = selector("input, select, textarea, button");
    let controls = doc.select(&control_selector).take(MAX_CONTROLS);
    for control in controls {
        let e = control.value();
        let owner = match e.attr("form") {
            Some(id) => by_id.get(id).copied(),
            None => control
                .ancestors()
                .find_map(|a| by_node.get(&a.id()).copied()),
        };
        let Some(form) = owner.map(|i| &mut forms[i]) else {
            continue;
        };
        let name = e.attr("name").map(str::to_string);
        let kind = e.attr("type").unwrap_or_default().to_ascii_lowercase();
        match e.name() {
            "button" if matches!(kind.as_str(), "" | "submit") => form.buttons.push(Button {
                name,
                value: e.attr("value").map(str::to_string),
                text: text(&control),
            }),
            "button" => {}
            "input" if matches!(kind.as_str(), "submit" | "image") => form.buttons.push(Button {
                name,
                value: e.attr("value").map(str::to_string),
                text: e.attr("value").unwrap_or_default().to_string(),
            }),
            "input" => {
                let Some(name) = name else { continue };
                let checkable = matches!(kind.as_str(), "checkbox" | "radio");
                if matches!(kind.as_str(), "file" | "reset" | "button")
                    || (checkable && e.attr("checked").is_none())
                    || e.attr("disabled").is_some()
                {
                    continue;
                }
                let default = if checkable { "on" } else { "" };
                if kind != "hidden" {
                    form.visible.insert(name.clone());
                }
                form.fields
                    .push((name, e.attr("value").unwrap_or(default).to_string()));
            }
            "select" => {
                let Some(name) = name else { continue };
                let chosen = (control.select(&options))
                    .find(|o| o.value().attr("selected").is_some())
                    .or_else(|| control.select(&options).next());
                if let Some(o) = chosen {
                    let value = o
                        .value()
                        .attr("value")
                        .map_or_else(|| text(&o), str::to_string);
                    form.visible.insert(name.clone());
                    form.fields.push((name, value));
                }
            }
            "textarea" => {
                if let Some(name) = name {
                    form.visible.insert(name.clone());
                    form.fields.push((name, control.text().collect()));
                }
            }
            _ => {}
        }
    }
    Page {
        title,
        forms,
        alert,
    }
}

/// What to do on a page.
#[derive(Debug, PartialEq)]
pub(crate) enum Choice {
    /// Submit this form with these fields.
    Submit {
        form: usize,
        fields: Vec<(String, String)>,
        /// The login fields a person would type in (not hidden ones; none
        /// for a consent form).
        filled: BTreeSet<String>,
    },
    /// No form to submit.
    Nothing,
}

/// The form that has the most of the login fields, filled in; else the
/// consent form, approved.
pub(crate) fn choose(page: &Page, login: &ResolvedLogin) -> Choice {
    let has = |form: &Form, name: &str| form.fields.iter().any(|(n, _)| n == name);
    let best = (page.forms.iter().enumerate())
        .map(|(i, form)| {
            let present = (login.fields.iter())
                .filter(|(name, _)| has(form, name))
                .count();
            (i, present)
        })
        .filter(|(_, present)| *present > 0)
        .max_by_key(|(i, present)| (*present, std::cmp::Reverse(*i)));
    if let Some((i, _)) = best {
        let filled = (login.fields.iter())
            .map(|(name, _)| name)
            .filter(|name| page.forms[i].visible.contains(*name))
            .cloned()
            .collect();
        let form = &page.forms[i];
        let mut fields = form.fields.clone();
        for (name, value) in &login.fields {
            if let Some(slot) = fields.iter_mut().find(|(n, _)| n == name) {
                slot.1 = value.clone();
            }
        }
        // The form's own submit button, as a click on it would send.
        let submit = form.buttons.iter().find(|b| !b.declines());
        fields.extend(submit.and_then(Button::pressed));
        return Choice::Submit {
            form: i,
            fields,
            filled,
        };
    }
    let approving = |b: &Button| match &login.consent {
        Some(wanted) => b.matches(wanted),
        None => b.approves(),
    };
    for (i, form) in page.forms.iter().enumerate() {
        if let Some(button) = form.buttons.iter().find(|b| approving(b)) {
            let mut fields = form.fields.clone();
            fields.extend(button.pressed());
            return Choice::Submit {
                form: i,
                fields,
                filled: BTreeSet::new(),
            };
        }
    }
    Choice::Nothing
}

/// Why a page could not be got through: its title, and what its forms
/// have, so the `login` block can be fixed.
fn describe(page: &Page, url: &url::Url, login: &ResolvedLogin) -> String {
    let wanted: Vec<&str> = login.fields.iter().map(|(n, _)| n.as_str()).collect();
    let mut out = format!(
        "the page {:?} ({}) has no form with the login fields ({})",
        page.title,
        without_query(url),
        if wanted.is_empty() {
            "none given".to_string()
        } else {
            wanted.join(", ")
        }
    );
    if login.consent.is_some() || page.forms.iter().any(|f| !f.buttons.is_empty()) {
        let consent = login.consent.as_deref().unwrap_or("an approving word");
        out.push_str(&format!(" and no button named {consent:?}"));
    }
    if page.forms.is_empty() {
        out.push_str(" and no form at all");
    }
    for (i, form) in page.forms.iter().enumerate() {
        let names: Vec<&str> = form.fields.iter().map(|(n, _)| n.as_str()).collect();
        let buttons: Vec<String> = (form.buttons.iter())
            .map(|b| {
                format!(
                    "{:?}",
                    if b.text.is_empty() {
                        b.value.clone().unwrap_or_default()
                    } else {
                        b.text.clone()
                    }
                )
            })
            .collect();
        out.push_str(&format!(
            "; form {} ({} {}): fields {}; buttons {}",
            i + 1,
            form.method,
            if form.action.is_empty() {
                "(this page)"
            } else {
                &form.action
            },
            if names.is_empty() {
                "none".into()
            } else {
                names.join(", ")
            },
            if buttons.is_empty() {
                "none".into()
            } else {
                buttons.join(", ")
            }
        ));
    }
    out
}

/// A URL without its query, for messages (queries hold states and codes).
fn without_query(url: &url::Url) -> String {
    let mut url = url.clone();
    url.set_query(None);
    url.set_fragment(None);
    url.to_string()
}

/// Walks the pages of a sign-in. Every request is an attempt.
pub(crate) struct Walk<'a> {
    pub http: &'a Http,
    pub client: reqwest::Client,
    pub redactor: &'a Arc<Redactor>,
    pub timeout: Duration,
    pub client_name: &'a str,
}

/// What the next request is.
struct Next {
    method: &'static str,
    url: url::Url,
    form: Option<Vec<(String, String)>>,
}

impl Walk<'_> {
    /// From the authorization URL to the redirect to `redirect_uri`: its
    /// URL, which holds the code.
    pub async fn to_code(
        &self,
        start: url::Url,
        redirect_uri: &url::Url,
        login: &ResolvedLogin,
        attempts: &mut Vec<Attempt>,
    ) -> Result<url::Url, TokenError> {
        match self.run(start, Some(redirect_uri), login, attempts).await? {
            Some(back) => Ok(back),
            None => Err(self.fail(
                FailureClass::AuthServer,
                "the sign-in ended without a redirect".into(),
            )),
        }
    }

    /// From the verification URI until nothing is left to submit (the
    /// device approved, or refused: the token endpoint then says which).
    pub async fn approve_device(
        &self,
        start: url::Url,
        login: &ResolvedLogin,
        attempts: &mut Vec<Attempt>,
    ) -> Result<(), TokenError> {
        self.run(start, None, login, attempts).await.map(|_| ())
    }

    fn fail(&self, class: FailureClass, message: String) -> TokenError {
        TokenError {
            class,
            message: format!("client `{}`: sign-in: {message}", self.client_name),
        }
    }

    async fn run(
        &self,
        start: url::Url,
        redirect_uri: Option<&url::Url>,
        login: &ResolvedLogin,
        attempts: &mut Vec<Attempt>,
    ) -> Result<Option<url::Url>, TokenError> {
        let jar = reqwest::cookie::Jar::default();
        let mut next = Next {
            method: "GET",
            url: start,
            form: None,
        };
        let mut submitted: Vec<BTreeSet<String>> = Vec::new();
        let mut secure = false;
        for _ in 0..MAX_PAGES {
            // Once on https, a password never goes out in clear.
            let loopback = matches!(
                next.url.host_str(),
                Some("127.0.0.1" | "[::1]" | "localhost")
            );
            if secure && next.url.scheme() == "http" && !loopback {
                return Err(self.fail(
                    FailureClass::AuthServer,
                    format!(
                        "refused to go from https to plain http ({})",
                        without_query(&next.url)
                    ),
                ));
            }
            secure |= next.url.scheme() == "https";
            let url = next.url.clone();
            let x = self
                .send(&jar, &next, attempts)
                .await
                .map_err(|m| self.fail(FailureClass::AuthServer, m))?;
            if (300..400).contains(&x.status) {
                let location = x.header_values("location").next().unwrap_or_default();
                let to = url
                    .join(location)
                    .ok()
                    .filter(|_| !location.is_empty())
                    .ok_or_else(|| {
                        self.fail(
                            FailureClass::AuthServer,
                            format!(
                                "{} answered {} without a usable Location",
                                without_query(&url),
                                x.status
                            ),
                        )
                    })?;
                if redirect_uri.is_some_and(|r| same_endpoint(r, &to)) {
                    return Ok(Some(to));
                }
                // 307 and 308 repeat the request as it was.
                next = match (x.status, next.form) {
                    (307 | 308, Some(form)) => Next {
                        method: "POST",
                        url: to,
                        form: Some(form),
                    },
                    _ => Next {
                        method: "GET",
                        url: to,
                        form: None,
                    },
                };
                continue;
            }
            let page = parse_page(&x.body_text());
            let choice = choose(&page, login);
            // The same login fields asked for again: they were refused
            // (some providers answer so with 400 or 401).
            if let Choice::Submit { filled, .. } = &choice {
                if !filled.is_empty() && submitted.contains(filled) {
                    let said = page
                        .alert
                        .as_ref()
                        .map(|a| format!(": the page says {a:?}"))
                        .unwrap_or_default();
                    return Err(self.fail(
                        FailureClass::Credentials,
                        format!(
                            "the login form came back after {} were submitted (wrong username or password?){said}",
                            filled.iter().cloned().collect::<Vec<_>>().join(" and ")
                        ),
                    ));
                }
            }
            let device_done = redirect_uri.is_none() && !submitted.is_empty();
            if x.status >= 400 && !device_done {
                let what = page.alert.clone().unwrap_or(page.title.clone());
                return Err(self.fail(
                    FailureClass::AuthServer,
                    format!("{} answered {}: {what}", without_query(&url), x.status),
                ));
            }
            match choice {
                Choice::Submit {
                    form,
                    fields,
                    filled,
                } if x.status < 400 => {
                    submitted.push(filled);
                    let form = &page.forms[form];
                    let action = url.join(&form.action).map_err(|e| {
                        self.fail(
                            FailureClass::AuthServer,
                            format!("a form's action {:?}: {e}", form.action),
                        )
                    })?;
                    next = if form.method == "POST" {
                        Next {
                            method: "POST",
                            url: action,
                            form: Some(fields),
                        }
                    } else {
                        let mut action = action;
                        action.query_pairs_mut().clear().extend_pairs(&fields);
                        Next {
                            method: "GET",
                            url: action,
                            form: None,
                        }
                    };
                }
                _ if device_done => return Ok(None),
                _ => return Err(self.fail(FailureClass::AuthServer, describe(&page, &url, login))),
            }
        }
        Err(self.fail(
            FailureClass::AuthServer,
            format!(
                "no way through after {MAX_PAGES} pages{}",
                redirect_uri
                    .map(|r| format!(" (no redirect to {})", without_query(r)))
                    .unwrap_or_default()
            ),
        ))
    }

    /// One page request, with the cookies the pages set; recorded once
    /// the secrets it brings (cookies, a code on its way back) are known.
    async fn send(
        &self,
        jar: &reqwest::cookie::Jar,
        next: &Next,
        attempts: &mut Vec<Attempt>,
    ) -> Result<Exchange, String> {
        let url = &next.url;
        let mut request = match &next.form {
            Some(fields) => self
                .client
                .post(url.clone())
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(
                    url::form_urlencoded::Serializer::new(String::new())
                        .extend_pairs(fields)
                        .finish(),
                ),
            None => self.client.get(url.clone()),
        };
        request = request.header("Accept", "text/html,application/xhtml+xml");
        if let Some(cookies) = jar.cookies(url) {
            request = request.header("Cookie", cookies);
        }
        let result = self.http.send(request, self.timeout).await;
        if let Ok(x) = &result {
            let set = x.headers.get_all(reqwest::header::SET_COOKIE);
            for cookie in set.iter() {
                // A session cookie is as good as a password.
                let first = cookie
                    .as_bytes()
                    .split(|b| *b == b';')
                    .next()
                    .unwrap_or_default();
                if let Some(eq) = first.iter().position(|b| *b == b'=') {
                    self.redactor
                        .add(String::from_utf8_lossy(&first[eq + 1..]).trim());
                }
            }
            jar.set_cookies(&mut set.iter(), url);
            // The code on its way to the redirect URI.
            if let Some(to) = (x.header_values("location").next()).and_then(|l| url.join(l).ok()) {
                for (name, value) in to.query_pairs() {
                    if name == "code" {
                        self.redactor.add(&value);
                    }
                }
            }
        }
        attempts.push(Attempt::record(
            AttemptKind::Token,
            next.method.to_string(),
            without_query(url),
            &result,
            self.redactor,
            Some(self.client_name),
        ));
        result.map_err(|e| format!("{} unreachable: {}", without_query(url), e.message))
    }
}

/// Whether `to` is at `redirect_uri`: scheme, host, port and path.
fn same_endpoint(redirect_uri: &url::Url, to: &url::Url) -> bool {
    redirect_uri.scheme() == to.scheme()
        && redirect_uri.host_str() == to.host_str()
        && redirect_uri.port_or_known_default() == to.port_or_known_default()
        && redirect_uri.path() == to.path()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOGIN: &str = r#"<!DOCTYPE html><html><head><title> Sign in </title></head><body>
      <form method="get" action="/search"><input name="q"><button>Search</button></form>
      <p class="error">Invalid username or password.</p>
      <form method="post" action="/login">
        <input type="hidden" name="csrf" value="t0k">
        <input name="username" value="">
        <input type="password" name="password">
        <input type="checkbox" name="remember" checked>
        <input type="checkbox" name="spam">
        <select name="lang"><option value="en">English</option><option value="fr" selected>Français</option></select>
        <input type="file" name="avatar">
        <button type="submit" name="action" value="login">Sign in</button>
      </form></body></html>"#;

    fn login(fields: &[(&str, &str)], consent: Option<&str>) -> ResolvedLogin {
        ResolvedLogin {
            fields: fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            secrets: Vec::new(),
            consent: consent.map(str::to_string),
        }
    }

    #[test]
    fn forms_are_read_as_a_browser_submits_them() {
        let page = parse_page(LOGIN);
        assert_eq!(page.title, "Sign in");
        assert_eq!(page.alert.as_deref(), Some("Invalid username or password."));
        let form = &page.forms[1];
        assert_eq!(
            (form.method.as_str(), form.action.as_str()),
            ("POST", "/login")
        );
        let names: Vec<&str> = form.fields.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["csrf", "username", "password", "remember", "lang"]);
        assert_eq!(form.fields[4].1, "fr");
        assert_eq!(page.forms[0].method, "GET");
    }

    #[test]
    fn the_form_with_the_login_fields_is_filled_in() {
        let page = parse_page(LOGIN);
        let choice = choose(
            &page,
            &login(
                &[("username", "alice"), ("password", "pw"), ("otp", "1")],
                None,
            ),
        );
        let Choice::Submit {
            form,
            fields,
            filled,
        } = choice
        else {
            panic!("{choice:?}")
        };
        assert_eq!(form, 1);
        assert_eq!(
            fields,
            [
                ("csrf", "t0k"),
                ("username", "alice"),
                ("password", "pw"),
                ("remember", "on"),
                ("lang", "fr"),
                ("action", "login")
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
        );
        assert_eq!(
            filled.into_iter().collect::<Vec<_>>(),
            ["password", "username"]
        );
    }

    #[test]
    fn buttons_outside_a_form_belong_to_the_form_they_name() {
        // oidc-provider's device confirmation page.
        let page = parse_page(
            r#"<form id="op.deviceConfirmForm" method="post" action="/device">
                 <input type="hidden" name="xsrf" value="x"><input type="hidden" name="confirm" value="yes"></form>
               <button autofocus type="submit" form="op.deviceConfirmForm">Continue</button>
               <button type="submit" form="op.deviceConfirmForm" value="yes" name="abort">[ Abort ]</button>
               <form id="other"><button form="op.deviceConfirmForm" name="elsewhere">x</button></form>"#,
        );
        assert_eq!(page.forms[0].buttons.len(), 3);
        assert_eq!(page.forms[0].buttons[0].text, "Continue");
        assert!(page.forms[1].buttons.is_empty());
        let Choice::Submit { fields, .. } = choose(&page, &login(&[("login", "a")], None)) else {
            panic!("the Continue button approves")
        };
        assert_eq!(fields.len(), 2, "Continue has no name: {fields:?}");
    }

    #[test]
    fn a_consent_form_is_approved_by_its_button() {
        let consent = r#"<title>Authorize</title><form method="post" action="/consent">
            <input type="hidden" name="i" value="1">
            <button name="abort" value="yes">[ Abort ]</button>
            <button name="decision" value="deny">Don't allow</button>
            <button name="decision" value="approve">Allow</button></form>"#;
        let page = parse_page(consent);
        let pressed = |c: Option<&str>| match choose(&page, &login(&[("username", "a")], c)) {
            Choice::Submit { fields, .. } => fields,
            Choice::Nothing => Vec::new(),
        };
        let approve = vec![
            ("i".to_string(), "1".to_string()),
            ("decision".to_string(), "approve".to_string()),
        ];
        assert_eq!(pressed(None), approve);
        assert_eq!(pressed(Some("ALLOW")), approve);
        assert_eq!(pressed(Some("deny"))[1].1, "deny");
        assert_eq!(pressed(Some("[ Abort ]"))[1].0, "abort");
        assert!(pressed(Some("Maybe")).is_empty());
        let url = url::Url::parse("http://as/consent?state=s3cr3t").unwrap();
        let why = describe(&page, &url, &login(&[("username", "a")], Some("Maybe")));
        assert!(why.contains("\"Authorize\" (http://as/consent)"), "{why}");
        assert!(
            why.contains("fields i; buttons \"[ Abort ]\", \"Don't allow\", \"Allow\""),
            "{why}"
        );
        assert!(!why.contains("s3cr3t"), "{why}");
    }
}
