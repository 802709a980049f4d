//! # failsafe-macros: the decorator
//!
//! `#[policy(..)]` runs a function's body through a failsafe handle, as
//! the Python Failsafe's decorators do: the function keeps its name,
//! arguments, generics and receiver, and returns the handle's error. Use it
//! through a binding's or the driver's `macros` feature
//! (`failsafe_tokio::policy`, `failsafe_thread::policy`,
//! `failsafe_async_std::policy`, `failsafe_driver::policy`).
//!
//! | form | the handle | runs the body with | the function returns |
//! | --- | --- | --- | --- |
//! | `#[policy(H)]` | a `Policy`: circuit breaker, fail fast, bulkhead, rate limiter | `H.call(..)` / `H.call_blocking(..)`, once | `Result<T, Error<E>>` |
//! | `#[policy(retry = H)]` | a `RetryPolicy` | `H.call(..)` / `H.call_blocking(..)`, once per attempt | `Result<T, RetryError<E>>` |
//! | `#[policy(pipeline = H)]` | a `Pipeline` | `H.call(..)` / `H.call_blocking(..)`, once per attempt | `Result<T, PipelineError<E>>` |
//! | `#[policy(name = "N", handle = T)]` (or `retry = "N"`, `pipeline = "N"`) | the `T` registered as `N` ([by name](#handles-by-name)) | as above | as above |
//!
//! `H` is any expression naming a handle: a `static` (a `LazyLock` on std,
//! a `const`-built handle on embassy), a field (`self.breaker`), a call.
//! An `async fn` runs through `call`, a plain `fn` through `call_blocking`
//! (on the calling thread). With `retry` or `pipeline`, `attempt = NAME`
//! binds the [`Attempt`] (its number, and the deadline to hand down) in the
//! body. Timeouts decorate through a pipeline (its `attempt_timeout` and
//! overall `timeout`), as do several patterns at once.
//!
//! ## The body and its error
//!
//! The function declares the handle's error, `Result<T, X<E>>`; **the body
//! is written as returning `Result<T, E>`**, the operation's own error `E`
//! (the last type argument of `X`). `?` converts into `E`, and `return`
//! leaves the body, not the function: the handle sees the result (an `Err`
//! is a failure the breaker counts and the retry retries) and the function
//! returns `Ok(T)` or the handle's error over `E`. Checked at compile time,
//! each with a message saying what is expected:
//!
//! - a return type that is not `Result<T, X<E>>` (none, `Result<T, String>`,
//!   `io::Result<T>`): nowhere to put a rejection, so a compile error on
//!   the return type;
//! - `X` that is not the handle's error (`Error<E>` declared for a
//!   pipeline): a type mismatch on the handle;
//! - a body whose error is not `E`: a type mismatch, or "`?` couldn't
//!   convert the error", in the body.
//!
//! A body that runs once per attempt (`retry`, `pipeline`) cannot consume
//! its arguments, and an `async` one cannot mutate them either: each
//! attempt runs the body again (clone inside the body instead). The
//! handle's expression is evaluated before the body starts.
//!
//! ## Example: a breaker on a blocking function
//!
//! ```
//! use std::sync::LazyLock;
//! use failsafe_thread::{policy, BreakerConfig, CircuitBreakerPolicy, Error, NoWindow, State};
//!
//! static PAYMENTS: LazyLock<CircuitBreakerPolicy<NoWindow>> = LazyLock::new(|| {
//!     let config = BreakerConfig::builder().consecutive_failures(2).build().unwrap();
//!     CircuitBreakerPolicy::new(config, NoWindow)
//! });
//!
//! #[derive(Debug)]
//! struct Declined;
//!
//! #[policy(PAYMENTS)]
//! fn charge(cents: u64) -> Result<u64, Error<Declined>> {
//!     if cents > 1_000 {
//!         return Err(Declined); // the body's own error: a failure
//!     }
//!     Ok(cents)
//! }
//!
//! assert_eq!(charge(500).unwrap(), 500);
//! assert!(matches!(charge(5_000), Err(Error::Inner(Declined))));
//! assert!(matches!(charge(5_000), Err(Error::Inner(Declined))));
//! assert_eq!(PAYMENTS.state(), State::Open); // two failures in a row
//! assert!(matches!(charge(500), Err(Error::Rejected(_)))); // the body did not run
//! ```
//!
//! ## Example: a retry on an `async` method
//!
//! ```
//! use std::sync::atomic::{AtomicU32, Ordering};
//! use std::time::Duration;
//! use failsafe_tokio::{policy, BackoffKind, Jitter, RetryConfig, RetryError, RetryPolicy};
//!
//! struct Client {
//!     retry: RetryPolicy,
//!     calls: AtomicU32,
//! }
//!
//! impl Client {
//!     #[policy(retry = self.retry, attempt = attempt)]
//!     async fn fetch(&self, id: u32) -> Result<String, RetryError<std::io::Error>> {
//!         let _deadline = attempt.deadline; // hand it down to the next hop
//!         if self.calls.fetch_add(1, Ordering::Relaxed) < 2 {
//!             Err(std::io::Error::other("flaky"))?; // `?` leaves the attempt
//!         }
//!         Ok(format!("item {id} at attempt {}", attempt.number))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let config = RetryConfig::builder()
//!     .max_attempts(3)
//!     .backoff(BackoffKind::Constant(Duration::from_millis(10)))
//!     .jitter(Jitter::None)
//!     .build()
//!     .unwrap();
//! let client = Client { retry: RetryPolicy::new(config), calls: AtomicU32::new(0) };
//! assert_eq!(client.fetch(7).await.unwrap(), "item 7 at attempt 3");
//! # }
//! ```
//!
//! ## Example: a pipeline in a firmware `static`
//!
//! On embassy, depend on `failsafe-macros` itself; the expansion names no
//! crate, only the handle's `call`.
//!
//! ```
//! use failsafe_embassy::{
//!     BreakerConfig, CircuitBreakerPolicy, NoWindow, Pipeline, PipelineError, RetryConfig,
//!     checked, circuit_breaker, pipeline,
//! };
//! use failsafe_macros::policy;
//!
//! static BREAKER: CircuitBreakerPolicy<NoWindow> = circuit_breaker(&BreakerConfig::DEFAULT, NoWindow);
//! static UPLINK: Pipeline<&CircuitBreakerPolicy<NoWindow>> =
//!     pipeline(&BREAKER).retry(checked(RetryConfig::builder().max_attempts(3).build()));
//!
//! #[policy(pipeline = UPLINK, attempt = attempt)]
//! async fn uplink(frame: &[u8]) -> Result<usize, PipelineError<&'static str>> {
//!     let _ = attempt.deadline; // talk to the radio within it
//!     Ok(frame.len())
//! }
//!
//! assert_eq!(futures_lite::future::block_on(uplink(b"frame")), Ok(5));
//! ```
//!
//! ## What it expands to
//!
//! ```text
//! #[policy(H)] async fn f(..) -> Result<T, Error<E>> { body }
//!   => async fn f(..) -> Result<T, Error<E>> {
//!          (H).call(async || { let r: Result<_, E> = { body }; r }).await
//!      }
//! #[policy(retry = H, attempt = a)] fn g(..) -> Result<T, RetryError<E>> { body }
//!   => fn g(..) -> Result<T, RetryError<E>> { (H).call_blocking(|a| -> Result<_, E> { body }) }
//! ```
//!
//! An async body run once per attempt is an `async` closure borrowing the
//! arguments. When the compiler says:
//!
//! - "closure is expected to take 1 argument, but it takes 0" on the
//!   handle: it is a retry or a pipeline, write `retry = ` or `pipeline = `
//!   (and the reverse for a policy);
//! - "cannot move out of a mutable reference ... variable moved due to use
//!   in coroutine": a body run once per attempt gives an argument away;
//!   clone it in the body.
//!
//! ## Handles by name
//!
//! `#[policy(name = "payments", handle = TYPE)]` (or
//! `#[policy("payments", handle = TYPE)]`, `retry = "NAME"`,
//! `pipeline = "NAME"`) runs the body through the handle registered under
//! that name in a [`Registry`]: the process-wide
//! `failsafe_driver::registry::global()` (the driver's `registry`
//! feature; the user's crate depends on `failsafe-driver` with it), or the
//! registry that `registry = EXPR` names (`EXPR.handle(..)` must reach a
//! `Registry`: a `static OPS: LazyLock<Registry>`, an `Arc<Registry>`,
//! `self.registry`). `TYPE` is the handle's exact
//! type, as registered (a method call needs a known type):
//! `CircuitBreakerPolicy<CountWindow>`, `BulkheadPolicy`, and for a
//! pipeline kept with `register_pipeline_handle`, `Arc<Pipeline<..>>`.
//! `retry = "NAME"` finds a registered `RetryPolicy` (any handle
//! `Registry::register` keeps is found by its type).
//!
//! The handle is looked up at the call site's first call and kept in a
//! `static` `OnceLock` the expansion creates, so a call after the first
//! costs an atomic load more than `#[policy(H)]` (the lookup itself takes
//! the registry's read lock, a map search and a downcast: not for every
//! call). The handle kept shares the registered one's state, so an
//! operator's change by name (`force_open`, a new limit) is seen by every
//! decorated call; a name unregistered and registered again with a new
//! handle is not (the call site keeps the first).
//!
//! **A name not registered, or registered with another type, panics** at
//! the call, naming the function, the name and the registry's
//! [`RegistryError`] (`NotFound`, `WrongType`): it is a wiring mistake of
//! the program (names and types are fixed in the source; handles are
//! registered at startup), as a missing route is, and the function's
//! declared error has no variant for it (a `Rejected` would read as an
//! overload and be retried). Nothing is kept then: the next call looks the
//! name up again. Register before the first call.
//!
//! ```
//! use failsafe_driver::registry::{self, Change};
//! use failsafe_thread::{policy, BreakerConfig, CircuitBreakerPolicy, Error, NoWindow, RejectReason};
//!
//! #[policy(name = "payments", handle = CircuitBreakerPolicy<NoWindow>)]
//! fn charge(cents: u64) -> Result<u64, Error<&'static str>> {
//!     Ok(cents)
//! }
//!
//! let breaker = CircuitBreakerPolicy::new(BreakerConfig::DEFAULT, NoWindow);
//! registry::global().register("payments", breaker).unwrap(); // at startup
//! assert_eq!(charge(500), Ok(500));
//!
//! // an operator, through the registry (or its admin routes)
//! registry::global().apply("payments", Change::ForceOpen).unwrap();
//! let rejected = charge(500).unwrap_err();
//! assert_eq!(rejected.rejected().unwrap().reason, RejectReason::BreakerForcedOpen);
//! ```
//!
//! On embassy there is no registry: name a `static` handle (`#[policy(H)]`).
//!
//! [`Attempt`]: https://docs.rs/failsafe-driver/latest/failsafe_driver/struct.Attempt.html
//! [`Registry`]: https://docs.rs/failsafe-driver/latest/failsafe_driver/registry/struct.Registry.html
//! [`RegistryError`]: https://docs.rs/failsafe-driver/latest/failsafe_driver/registry/enum.RegistryError.html

use proc_macro::TokenStream;
use proc_macro2::TokenStream as Tokens;
use quote::{ToTokens, quote, quote_spanned};
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{
    Error, Expr, ExprLit, GenericArgument, Ident, ItemFn, Lit, LitStr, PathArguments, ReturnType,
    Token, Type,
};

/// Runs the function's body through a failsafe handle: `#[policy(H)]` (a
/// `Policy`), `#[policy(retry = H)]` (a `RetryPolicy`) or
/// `#[policy(pipeline = H)]` (a `Pipeline`), optionally `attempt = NAME`
/// with `retry` and `pipeline`; by name, `#[policy(name = "N", handle =
/// T)]` (`retry = "N"`, `pipeline = "N"`; `registry = EXPR` for another
/// registry than the global one). An `async fn` calls `H.call`, a `fn`
/// `H.call_blocking`. The function returns `Result<T, X<E>>` (`X` the
/// handle's error) and its body is written as returning `Result<T, E>`.
/// See the [crate docs](crate).
#[proc_macro_attribute]
pub fn policy(args: TokenStream, item: TokenStream) -> TokenStream {
    let args = syn::parse_macro_input!(args as Args);
    let item: Tokens = item.into();
    let decorated = match syn::parse2::<ItemFn>(item.clone()) {
        Ok(function) => decorate(&args, function),
        Err(_) => Err(Error::new_spanned(
            item,
            "`#[policy]` goes on a `fn` or an `async fn` with a body",
        )),
    };
    decorated.unwrap_or_else(Error::into_compile_error).into()
}

/// Which handle the body runs through: its verbs' shape and its error.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// An admission `Policy`: `call(|| ..)`, the body runs once.
    Policy,
    /// A `RetryPolicy`: `call(|attempt| ..)`, once per attempt.
    Retry,
    /// A `Pipeline`: `call(|attempt| ..)`, once per attempt.
    Pipeline,
}

impl Kind {
    /// The handle, as the messages name it.
    fn noun(self) -> &'static str {
        match self {
            Kind::Policy => "policy",
            Kind::Retry => "retry",
            Kind::Pipeline => "pipeline",
        }
    }

    /// The handle's error over the body's error `E`.
    fn error(self) -> &'static str {
        match self {
            Kind::Policy => "Error<E>",
            Kind::Retry => "RetryError<E>",
            Kind::Pipeline => "PipelineError<E>",
        }
    }
}

/// The attribute's arguments: the handle, its kind, the attempt's name.
struct Args {
    kind: Kind,
    handle: Handle,
    attempt: Option<Ident>,
}

/// Where the handle comes from.
enum Handle {
    /// An expression naming it.
    Expr(Expr),
    /// A registry's handle of this type under this name.
    ByName(Box<ByName>),
}

/// A handle by name: the name, its type, the registry if not the global.
struct ByName {
    name: LitStr,
    ty: Type,
    registry: Option<Expr>,
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut handle: Option<(Kind, Expr)> = None;
        let mut attempt = None;
        let mut ty: Option<(Ident, Type)> = None;
        let mut registry: Option<(Ident, Expr)> = None;
        while !input.is_empty() {
            let option = input.peek(Ident) && input.peek2(Token![=]) && !input.peek2(Token![==]);
            let kind = if option {
                let key: Ident = input.parse()?;
                input.parse::<Token![=]>()?;
                match key.to_string().as_str() {
                    "retry" => Some((Kind::Retry, key)),
                    "pipeline" => Some((Kind::Pipeline, key)),
                    "name" => {
                        if !(input.peek(LitStr)) {
                            return Err(input.error(
                                "expected the registered name, a string: `name = \"payments\"`",
                            ));
                        }
                        Some((Kind::Policy, key))
                    }
                    "attempt" => {
                        attempt = Some(input.parse::<Ident>()?);
                        None
                    }
                    "handle" => {
                        ty = Some((key, input.parse()?));
                        None
                    }
                    "registry" => {
                        registry = Some((key, input.parse()?));
                        None
                    }
                    _ => {
                        return Err(Error::new(
                            key.span(),
                            "expected `retry = HANDLE`, `pipeline = HANDLE`, `name = \"NAME\"`, \
                             `handle = TYPE`, `registry = REGISTRY` or `attempt = NAME`",
                        ));
                    }
                }
            } else {
                Some((Kind::Policy, Ident::new("policy", input.span())))
            };
            if let Some((kind, key)) = kind {
                if handle.is_some() {
                    return Err(Error::new(key.span(), "one handle per function"));
                }
                handle = Some((kind, input.parse()?));
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        let Some((kind, handle)) = handle else {
            return Err(input.error(
                "expected the handle to run the body through: `#[policy(BREAKER)]`, \
                 `#[policy(retry = RETRY)]` or `#[policy(pipeline = PIPELINE)]`",
            ));
        };
        if let (Kind::Policy, Some(name)) = (kind, &attempt) {
            return Err(Error::new(
                name.span(),
                "`attempt = ..` goes with `retry = ..` or `pipeline = ..`: a policy runs the body once",
            ));
        }
        let handle = match (handle, ty, registry) {
            (
                Expr::Lit(ExprLit {
                    lit: Lit::Str(name),
                    ..
                }),
                Some((_, ty)),
                registry,
            ) => Handle::ByName(Box::new(ByName {
                name,
                ty,
                registry: registry.map(|(_, r)| r),
            })),
            (
                Expr::Lit(ExprLit {
                    lit: Lit::Str(name),
                    ..
                }),
                None,
                _,
            ) => {
                let (key, ty) = match kind {
                    Kind::Policy => ("name", "CircuitBreakerPolicy<CountWindow>"),
                    Kind::Retry => ("retry", "RetryPolicy"),
                    Kind::Pipeline => (
                        "pipeline",
                        "Arc<Pipeline<((), CircuitBreakerPolicy), StdClock>>",
                    ),
                };
                return Err(Error::new(
                    name.span(),
                    format!(
                        "a handle by name needs its type, to call it: add `handle = TYPE`, \
                         e.g. `#[policy({key} = {}, handle = {ty})]`",
                        name.to_token_stream()
                    ),
                ));
            }
            (_, Some((key, _)), _) | (_, _, Some((key, _))) => {
                return Err(Error::new(
                    key.span(),
                    format!(
                        "`{key} = ..` goes with a handle by name: `name = \"NAME\"` \
                         (or `retry = \"NAME\"`, `pipeline = \"NAME\"`)"
                    ),
                ));
            }
            (expr, None, None) => Handle::Expr(expr),
        };
        Ok(Args {
            kind,
            handle,
            attempt,
        })
    }
}

/// The function with its body run through the handle.
fn decorate(args: &Args, mut function: ItemFn) -> syn::Result<Tokens> {
    let sig = &function.sig;
    if let Some(constness) = &sig.constness {
        return Err(Error::new(
            constness.span,
            "`#[policy]` cannot decorate a `const fn`: a handle reads a clock",
        ));
    }
    let error = body_error(args.kind, &sig.ident, &sig.output)?;
    let handle = handle(&args.handle, &sig.ident);
    let body = &function.block;
    let result = quote!(::core::result::Result<_, #error>);
    let attempt = match &args.attempt {
        Some(name) => name.to_token_stream(),
        None => quote!(_),
    };
    // The call, not the body, is spanned on the handle: a handle of
    // another kind, or an error type that is not the handle's, is
    // reported there.
    let (span, is_async) = (handle.span(), sig.asyncness.is_some());
    let operation = match (is_async, args.kind) {
        // An `async` closure, not `move || async move`: it captures only
        // the fields it uses (a `&mut self` method's other fields stay free
        // for the handle `self.breaker`), as the blocking expansion does.
        // The body is the closure's, its type declared: a body that
        // diverges (ends in a panic) leaves no expansion code unreachable.
        (true, Kind::Policy) => quote!(async || -> #result #body),
        (true, _) => quote!(async |#attempt| -> #result #body),
        (false, Kind::Policy) => quote!(|| -> #result #body),
        (false, _) => quote!(|#attempt| -> #result #body),
    };
    let call = match is_async {
        true => quote_spanned!(span=> (#handle).call(#operation).await),
        false => quote_spanned!(span=> (#handle).call_blocking(#operation)),
    };
    *function.block = syn::parse2(quote!({ #call }))?;
    Ok(function.into_token_stream())
}

/// The handle's expression: as written, or a registry's handle looked up
/// at the call site's first call and kept in a `static` there (a lookup
/// that fails panics, naming the function and why, and is tried again at
/// the next call).
fn handle(handle: &Handle, function: &Ident) -> Tokens {
    let (name, ty, registry) = match handle {
        Handle::Expr(expr) => return expr.to_token_stream(),
        Handle::ByName(by_name) => (&by_name.name, &by_name.ty, &by_name.registry),
    };
    let registry = match registry {
        Some(registry) => registry.to_token_stream(),
        None => quote!(::failsafe_driver::registry::global()),
    };
    let function = function.to_string();
    quote_spanned! {name.span()=>
        {
            static __FAILSAFE_HANDLE: ::std::sync::OnceLock<#ty> = ::std::sync::OnceLock::new();
            __FAILSAFE_HANDLE.get_or_init(|| match (#registry).handle::<#ty>(#name) {
                ::core::result::Result::Ok(handle) => handle,
                ::core::result::Result::Err(error) => ::core::panic!(
                    "`#[policy]` on `{}`: cannot take the handle {:?} from the registry: {}",
                    #function, #name, error
                ),
            })
        }
    }
}

/// The body's error `E`, from the declared `Result<T, X<E>>`; else a
/// compile error on the return type saying what is expected.
fn body_error(kind: Kind, name: &Ident, output: &ReturnType) -> syn::Result<Tokens> {
    let (noun, error) = (kind.noun(), kind.error());
    let expected = format!(
        "expected `Result<T, {error}>`: the {noun}'s error over the body's own error `E` \
         (the body returns `Result<T, E>`)"
    );
    let ReturnType::Type(_, ty) = output else {
        return Err(Error::new(
            name.span(),
            format!("the function has no return type to carry the {noun}'s error; {expected}"),
        ));
    };
    let args = type_args(ty);
    let Some([_, declared]) = args.as_deref() else {
        return Err(Error::new_spanned(
            ty,
            format!("this type cannot carry the {noun}'s error; {expected}"),
        ));
    };
    match type_args(declared).as_deref() {
        Some([.., inner]) => Ok(inner.to_token_stream()),
        _ => Err(Error::new_spanned(
            declared,
            format!(
                "`{}` cannot carry the {noun}'s error; {expected}",
                declared.to_token_stream()
            ),
        )),
    }
}

/// The type arguments of a path type's last segment (`Result<T, E>`: `T`
/// and `E`), if it has any.
fn type_args(ty: &Type) -> Option<Vec<&Type>> {
    let path = match ty {
        Type::Path(path) if path.qself.is_none() => &path.path,
        Type::Group(group) => return type_args(&group.elem),
        Type::Paren(paren) => return type_args(&paren.elem),
        _ => return None,
    };
    let PathArguments::AngleBracketed(args) = &path.segments.last()?.arguments else {
        return None;
    };
    let types: Vec<&Type> = args
        .args
        .iter()
        .filter_map(|arg| match arg {
            GenericArgument::Type(ty) => Some(ty),
            _ => None,
        })
        .collect();
    (!types.is_empty()).then_some(types)
}
