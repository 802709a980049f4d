use failsafe_thread::policy;

#[policy()]
fn no_handle() -> Result<(), failsafe_thread::Error<()>> {
    Ok(())
}

#[policy(hedge = HEDGE)]
fn unknown_option() -> Result<(), failsafe_thread::Error<()>> {
    Ok(())
}

#[policy(BREAKER, attempt = attempt)]
fn attempt_on_a_policy() -> Result<(), failsafe_thread::Error<()>> {
    Ok(())
}

#[policy(BREAKER, retry = RETRY)]
fn two_handles() -> Result<(), failsafe_thread::Error<()>> {
    Ok(())
}

#[policy(BREAKER)]
struct NotAFunction;

#[policy(BREAKER)]
const fn constant() -> Result<(), failsafe_thread::Error<()>> {
    Ok(())
}

fn main() {}
