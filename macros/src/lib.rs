//! gort's procedural macros: `#[gort::main]`.
//!
//! Written against `proc_macro` directly: the transformation only moves the
//! body of `main` into a closure, and keeping the user's tokens (with their
//! spans) intact keeps compiler errors pointing at the user's code.

use proc_macro::{Delimiter, Group, Span, TokenStream, TokenTree};

/// Runs `main` as the main goroutine of gort's default runtime:
///
/// ```ignore
/// #[gort::main]
/// fn main() {
///     let h = gort::go!(move || 40 + 2);
///     assert_eq!(h.join().unwrap(), 42);
/// }
/// ```
///
/// `main` may return anything that implements `std::process::Termination`
/// (such as `Result<(), Box<dyn Error>>`); the result is reported from the
/// goroutine and the process exits with its code. Takes no arguments; set
/// the number of Ps with `GORT_MAXPROCS`.
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    if let Some(t) = args.into_iter().next() {
        return error(
            t.span(),
            "#[gort::main] takes no arguments; set GORT_MAXPROCS to choose the number of Ps",
        );
    }
    let tokens: Vec<TokenTree> = item.into_iter().collect();
    let Some(TokenTree::Group(body)) = tokens.last().cloned() else {
        return error(Span::call_site(), "#[gort::main] must be placed on `fn main() { ... }`");
    };
    if body.delimiter() != Delimiter::Brace {
        return error(body.span(), "#[gort::main] must be placed on `fn main() { ... }`");
    }
    let sig = &tokens[..tokens.len() - 1];
    // Find `fn`, then `main`, and an optional `-> Ret` after the arguments.
    let Some(fn_pos) = sig.iter().position(|t| matches!(t, TokenTree::Ident(i) if i.to_string() == "fn"))
    else {
        return error(Span::call_site(), "#[gort::main] must be placed on a function");
    };
    if sig[..fn_pos].iter().any(|t| matches!(t, TokenTree::Ident(i) if i.to_string() == "async")) {
        return error(Span::call_site(), "#[gort::main] goes on a plain `fn main`, not an async one");
    }
    match sig.get(fn_pos + 1) {
        Some(TokenTree::Ident(i)) if i.to_string() == "main" => {}
        Some(t) => return error(t.span(), "#[gort::main] must be placed on `fn main`"),
        None => return error(Span::call_site(), "#[gort::main] must be placed on `fn main`"),
    }
    let attrs: TokenStream = sig[..fn_pos].iter().cloned().collect();
    let ret: TokenStream =
        match sig.iter().position(|t| matches!(t, TokenTree::Punct(p) if p.as_char() == '-')) {
            Some(i) => sig[i + 2..].iter().cloned().collect(),
            None => "()".parse().expect("valid tokens"),
        };
    let mut out = TokenStream::new();
    out.extend(attrs);
    out.extend("fn main() -> ::std::process::ExitCode".parse::<TokenStream>().expect("valid tokens"));
    // { ::gort::run(move || ::std::process::Termination::report((move || -> RET BODY)())) }
    let mut inner_closure = TokenStream::new();
    inner_closure.extend("move || ->".parse::<TokenStream>().expect("valid tokens"));
    inner_closure.extend(ret);
    inner_closure.extend([TokenTree::Group(body)]);
    let mut call = TokenStream::new();
    call.extend([TokenTree::Group(Group::new(Delimiter::Parenthesis, inner_closure))]);
    call.extend([TokenTree::Group(Group::new(Delimiter::Parenthesis, TokenStream::new()))]);
    let mut report = TokenStream::new();
    report
        .extend("move || ::std::process::Termination::report".parse::<TokenStream>().expect("valid tokens"));
    report.extend([TokenTree::Group(Group::new(Delimiter::Parenthesis, call))]);
    let mut run = TokenStream::new();
    run.extend("::gort::run".parse::<TokenStream>().expect("valid tokens"));
    run.extend([TokenTree::Group(Group::new(Delimiter::Parenthesis, report))]);
    out.extend([TokenTree::Group(Group::new(Delimiter::Brace, run))]);
    out
}

fn error(span: Span, msg: &str) -> TokenStream {
    let mut ts: TokenStream = format!("::core::compile_error!({msg:?});").parse().expect("valid tokens");
    ts = ts
        .into_iter()
        .map(|mut t| {
            t.set_span(span);
            t
        })
        .collect();
    ts
}
