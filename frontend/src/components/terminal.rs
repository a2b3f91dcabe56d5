//! A command's output in a terminal-like panel: the prompt line, stdout, stderr and how it ended.

use rootlab_shared::result::CommandOutput;
use yew::prelude::*;

use crate::model::curl::shell_quote;

#[derive(Properties, PartialEq)]
pub struct TerminalProps {
    pub output: CommandOutput,
    #[prop_or_default]
    pub actor: Option<AttrValue>,
}

#[function_component]
pub fn Terminal(props: &TerminalProps) -> Html {
    let o = &props.output;
    let prompt = props.actor.as_deref().unwrap_or("$");
    let argv: Vec<String> = o
        .argv
        .iter()
        .map(|a| {
            if a.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./=:".contains(c))
            {
                a.clone()
            } else {
                shell_quote(a)
            }
        })
        .collect();
    let status = match (&o.exit_code, &o.signal) {
        (_, Some(sig)) => format!("killed by {sig}"),
        (Some(0), _) => "exit 0".to_string(),
        (Some(code), _) => format!("exit {code}"),
        _ => String::new(),
    };
    html! {
        <pre class="terminal" role="log">
            <span class="prompt">{ format!("{prompt}# ") }</span><span class="cmd">{ argv.join(" ") }</span>{ "\n" }
            <span class="stdout">{ &o.stdout }</span>
            <span class="stderr">{ &o.stderr }</span>
            if o.truncated { <span class="warn">{ "\n[output truncated at the limit]\n" }</span> }
            <span class={classes!("status", (o.exit_code != Some(0)).then_some("bad"))}>{ format!("[{status}]") }</span>
        </pre>
    }
}
