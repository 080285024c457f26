//! The `select!` macro: Go's `select` statement.
//!
//! Go: the compiler's lowering of `select` (cmd/compile walk/select.go) to
//! runtime/select.go's `selectgo`.
//!
//! Expansion: the cases' channel expressions and send values are evaluated
//! once, in source order (Go's rule), each bound by a nested `match` so
//! temporaries such as `gort::after(d)` live through the select; each case
//! becomes a typed case object on this stack; `selectgo` runs over their
//! type-erased views; then the chosen case's result is bound to its pattern
//! and its body runs. All case objects are dropped before any body runs,
//! so a body may reassign a case's channel variable (e.g. set it to `None`
//! to disable it, Go's nil-channel idiom), and `break`, `continue`,
//! `return` and `?` in bodies act on the enclosing code.

/// Waits on several channel operations and runs the body of the one that
/// completes: Go's `select` statement.
///
/// ```
/// use std::time::Duration;
///
/// let (a, b) = (gort::chan::<i32>(1), gort::chan::<&str>(0));
/// a.send(1).unwrap();
/// gort::select! {
///     recv(a) -> v => assert_eq!(v, Some(1)),
///     recv(b) -> v => panic!("b is never ready: {v:?}"),
///     recv(gort::after(Duration::from_secs(1))) -> _ => panic!("a was ready"),
/// }
/// ```
///
/// Cases, each `=> body` followed by `,` (optional after a `{ block }`):
/// - `recv(ch) -> v`: receive; `v: Option<T>` is `None` once `ch` is closed
///   and drained. `ch` is a [`Chan`](crate::Chan), a
///   [`Receiver`](crate::Receiver), a reference to one, or an `Option` of
///   those (`None` is Go's nil channel: the case never fires).
/// - `send(ch, value) -> r`: send; `r: Result<(), SendError<T>>` is an
///   error (with the value) if `ch` is closed. `ch` is a `Chan`, a
///   [`Sender`](crate::Sender), a reference, or an `Option`.
/// - `default`: runs when no other case is ready, making the select
///   non-blocking.
/// - `-> pattern` may be left out.
///
/// Semantics are Go's: every channel expression and send value is
/// evaluated exactly once, in source order, before anything else; if
/// several cases are ready one is chosen uniformly at random; otherwise
/// `default` runs if present, else the caller blocks until one case can
/// complete, and exactly one does. A send value whose case was not chosen
/// is dropped. A timeout is a receive from [`after`](crate::after).
/// `select! {}` blocks forever.
#[macro_export]
macro_rules! select {
    () => {
        $crate::__private::block_forever()
    };
    ($($tokens:tt)+) => {
        $crate::__select_parse!([] [] $($tokens)+)
    };
}

/// Normalises the cases into `[recv (ch) (pat) {body}]`,
/// `[send (ch) (value) (pat) {body}]` and a default body.
#[doc(hidden)]
#[macro_export]
macro_rules! __select_parse {
    // One case, with or without default: Go compiles these to a plain
    // (non-blocking) send or receive, and so does gort.
    ([[recv ($ch:expr) ($p:pat) $b:tt]] [$($def:tt)?]) => {
        match $ch {
            ref chan => match $crate::__private::recv1(chan, $crate::__select_wait!($($def)?)) {
                ::core::option::Option::Some(v) => {
                    let $p = v;
                    $b
                }
                ::core::option::Option::None => $crate::__select_default!($($def)?),
            },
        }
    };
    ([[send ($ch:expr) ($v:expr) ($p:pat) $b:tt]] [$($def:tt)?]) => {
        match $ch {
            ref chan => match $crate::__private::send1(chan, $v, $crate::__select_wait!($($def)?)) {
                ::core::option::Option::Some(r) => {
                    let $p = r;
                    $b
                }
                ::core::option::Option::None => $crate::__select_default!($($def)?),
            },
        }
    };
    // All cases parsed.
    ([$($cases:tt)*] [$($def:tt)*]) => {
        $crate::__select_bind!([] [$($def)*] $($cases)*)
    };

    // recv(ch) -> pat => body
    ([$($c:tt)*] $d:tt recv($ch:expr) -> $p:pat => { $($b:tt)* } , $($tail:tt)*) => {
        $crate::__select_parse!([$($c)* [recv ($ch) ($p) { $($b)* }]] $d $($tail)*)
    };
    ([$($c:tt)*] $d:tt recv($ch:expr) -> $p:pat => { $($b:tt)* } $($tail:tt)*) => {
        $crate::__select_parse!([$($c)* [recv ($ch) ($p) { $($b)* }]] $d $($tail)*)
    };
    ([$($c:tt)*] $d:tt recv($ch:expr) -> $p:pat => $b:expr , $($tail:tt)*) => {
        $crate::__select_parse!([$($c)* [recv ($ch) ($p) { $b }]] $d $($tail)*)
    };
    ([$($c:tt)*] $d:tt recv($ch:expr) -> $p:pat => $b:expr) => {
        $crate::__select_parse!([$($c)* [recv ($ch) ($p) { $b }]] $d)
    };
    ($c:tt $d:tt recv($ch:expr) => $($tail:tt)*) => {
        $crate::__select_parse!($c $d recv($ch) -> _ => $($tail)*)
    };

    // send(ch, value) -> pat => body
    ([$($c:tt)*] $d:tt send($ch:expr, $v:expr) -> $p:pat => { $($b:tt)* } , $($tail:tt)*) => {
        $crate::__select_parse!([$($c)* [send ($ch) ($v) ($p) { $($b)* }]] $d $($tail)*)
    };
    ([$($c:tt)*] $d:tt send($ch:expr, $v:expr) -> $p:pat => { $($b:tt)* } $($tail:tt)*) => {
        $crate::__select_parse!([$($c)* [send ($ch) ($v) ($p) { $($b)* }]] $d $($tail)*)
    };
    ([$($c:tt)*] $d:tt send($ch:expr, $v:expr) -> $p:pat => $b:expr , $($tail:tt)*) => {
        $crate::__select_parse!([$($c)* [send ($ch) ($v) ($p) { $b }]] $d $($tail)*)
    };
    ([$($c:tt)*] $d:tt send($ch:expr, $v:expr) -> $p:pat => $b:expr) => {
        $crate::__select_parse!([$($c)* [send ($ch) ($v) ($p) { $b }]] $d)
    };
    ($c:tt $d:tt send($ch:expr, $v:expr) => $($tail:tt)*) => {
        $crate::__select_parse!($c $d send($ch, $v) -> _ => $($tail)*)
    };

    // default => body
    ($c:tt [] default => { $($b:tt)* } , $($tail:tt)*) => {
        $crate::__select_parse!($c [{ $($b)* }] $($tail)*)
    };
    ($c:tt [] default => { $($b:tt)* } $($tail:tt)*) => {
        $crate::__select_parse!($c [{ $($b)* }] $($tail)*)
    };
    ($c:tt [] default => $b:expr , $($tail:tt)*) => {
        $crate::__select_parse!($c [{ $b }] $($tail)*)
    };
    ($c:tt [] default => $b:expr) => {
        $crate::__select_parse!($c [{ $b }])
    };
    ($c:tt [$($d:tt)+] default $($tail:tt)*) => {
        ::core::compile_error!("select! has more than one `default` case")
    };

    ($c:tt $d:tt $($tail:tt)+) => {
        ::core::compile_error!(::core::concat!(
            "select!: expected `recv(ch) -> v => body`, `send(ch, value) -> r => body` ",
            "or `default => body`, found: ",
            ::core::stringify!($($tail)+)
        ))
    };
}

/// Evaluates each case's channel (and value) in source order and binds a
/// case object per case; macro hygiene makes each step's `case` distinct.
#[doc(hidden)]
#[macro_export]
macro_rules! __select_bind {
    ([$($done:tt)*] $def:tt [recv ($ch:expr) ($p:pat) $b:tt] $($rest:tt)*) => {
        match $ch {
            ref chan => {
                let mut case = $crate::__private::recv_case(chan);
                $crate::__select_bind!([$($done)* [case ($p) $b]] $def $($rest)*)
            }
        }
    };
    ([$($done:tt)*] $def:tt [send ($ch:expr) ($v:expr) ($p:pat) $b:tt] $($rest:tt)*) => {
        match $ch {
            ref chan => match $v {
                value => {
                    let mut case = $crate::__private::send_case(chan, value);
                    $crate::__select_bind!([$($done)* [case ($p) $b]] $def $($rest)*)
                }
            },
        }
    };
    // Only a default: it runs.
    ([] [$def:tt]) => {
        $def
    };
    ([$([$case:ident ($p:pat) $b:tt])+] [$($def:tt)?]) => {{
        let mut order = [0u32; 2 * (0 $(+ $crate::__select_one!($case))+)];
        let wait = $crate::__select_wait!($($def)?);
        let chosen = $crate::__private::selectgo(&mut [$($case.scase()),+], &mut order, wait);
        $crate::__select_dispatch!(chosen (0usize) ($($case),+) [$($def)?] $([$case ($p) $b])+)
    }};
}

#[doc(hidden)]
#[macro_export]
macro_rules! __select_one {
    ($x:ident) => {
        1
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __select_wait {
    () => {
        $crate::__private::Wait::Forever
    };
    ($def:tt) => {
        $crate::__private::Wait::No
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __select_default {
    () => {
        ::core::unreachable!("a blocking operation returned without completing")
    };
    ($def:tt) => {
        $def
    };
}

/// Runs the chosen case's body (or the default's).
#[doc(hidden)]
#[macro_export]
macro_rules! __select_dispatch {
    ($r:ident ($i:expr) $all:tt $def:tt [$case:ident ($p:pat) $b:tt] $($rest:tt)*) => {
        match $r {
            ::core::option::Option::Some((i, _)) if i == $i => {
                let $p = $case.finish();
                $crate::__private::end_cases($all);
                $b
            }
            _ => $crate::__select_dispatch!($r ($i + 1) $all $def $($rest)*),
        }
    };
    ($r:ident ($i:expr) $all:tt [$def:tt]) => {{
        $crate::__private::end_cases($all);
        $def
    }};
    ($r:ident ($i:expr) $all:tt []) => {
        ::core::unreachable!("select without default returned no case")
    };
}
