//! gort's procedural macros: `#[gort::main]` and
//! `#[gort::main(stack_size = "8M")]`.
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
/// goroutine and the process exits with its code.
///
/// Main's goroutine gets the default goroutine stack (256 KiB, or
/// `GORT_STACK_SIZE`), where a plain Rust `main` thread gets 8 MiB: a
/// ported `main` that recurses deeply asks for more with
/// `#[gort::main(stack_size = "8M")]` (bytes, or a number with a `K`, `M`
/// or `G` suffix, 1024-based; an integer literal is bytes). That is the
/// only option; set the number of Ps with `GORT_MAXPROCS`.
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    let stack_size = match parse_args(args) {
        Ok(s) => s,
        Err(mut e) => {
            // Keep the function, so the error is the only one reported.
            e.extend(item);
            return e;
        }
    };
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
    match stack_size {
        // ::gort::run(REPORT)
        None => {
            run.extend("::gort::run".parse::<TokenStream>().expect("valid tokens"));
            run.extend([TokenTree::Group(Group::new(Delimiter::Parenthesis, report))]);
        }
        // What run does, with a Builder carrying the stack size:
        // match ::gort::Builder::new().stack_size(N).spawn(REPORT).join() {
        //     Ok(v) => v, Err(p) => p.resume() }
        Some(n) => {
            run.extend("match ::gort::Builder::new()".parse::<TokenStream>().expect("valid tokens"));
            run.extend(format!(".stack_size({n}usize).spawn").parse::<TokenStream>().expect("valid tokens"));
            run.extend([TokenTree::Group(Group::new(Delimiter::Parenthesis, report))]);
            run.extend(
                ".join() { ::std::result::Result::Ok(v) => v, ::std::result::Result::Err(p) => p.resume() }"
                    .parse::<TokenStream>()
                    .expect("valid tokens"),
            );
        }
    }
    out.extend([TokenTree::Group(Group::new(Delimiter::Brace, run))]);
    out
}

const USAGE: &str = "#[gort::main] takes one option, the stack size of main's goroutine: \
                     #[gort::main(stack_size = \"8M\")]; set GORT_MAXPROCS to choose the number of Ps";

/// Reads the attribute's arguments: nothing, or `stack_size = "8M"` (or an
/// integer literal of bytes).
fn parse_args(args: TokenStream) -> Result<Option<usize>, TokenStream> {
    let toks: Vec<TokenTree> = args.into_iter().collect();
    let Some(first) = toks.first() else { return Ok(None) };
    match &toks[..] {
        [TokenTree::Ident(k), TokenTree::Punct(eq), TokenTree::Literal(lit)]
            if k.to_string() == "stack_size" && eq.as_char() == '=' =>
        {
            let text = lit.to_string();
            let value = match text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
                Some(s) => s.to_string(),
                None => text.replace('_', "").trim_end_matches("usize").to_string(),
            };
            match parse_size(&value) {
                Some(n) => Ok(Some(n)),
                None => Err(error(
                    lit.span(),
                    &format!(
                        "#[gort::main(stack_size = ...)]: {text} is not a stack size; give bytes or a \
                         number with a K, M or G suffix (powers of 1024), e.g. stack_size = \"8M\""
                    ),
                )),
            }
        }
        _ => Err(error(first.span(), USAGE)),
    }
}

/// Parses `8M`, `512K`, `1G`, `65536` (the runtime's `GORT_STACK_SIZE`
/// syntax): a positive size in bytes.
fn parse_size(s: &str) -> Option<usize> {
    let s = s.trim();
    let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(digits);
    let n: usize = num.parse().ok()?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => return None,
    };
    let bytes = n.checked_mul(1usize << shift)?;
    (bytes > 0).then_some(bytes)
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
