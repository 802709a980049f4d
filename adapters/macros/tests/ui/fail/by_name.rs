use failsafe_thread::policy;

#[policy(name = "payments")]
fn no_handle_type() -> Result<(), failsafe_thread::Error<()>> {
    Ok(())
}

#[policy(retry = "fetch")]
fn no_handle_type_for_a_retry() -> Result<(), failsafe_thread::RetryError<()>> {
    Ok(())
}

#[policy(BREAKER, handle = CircuitBreakerPolicy)]
fn handle_type_without_a_name() -> Result<(), failsafe_thread::Error<()>> {
    Ok(())
}

#[policy(name = PAYMENTS, handle = CircuitBreakerPolicy)]
fn name_not_a_string() -> Result<(), failsafe_thread::Error<()>> {
    Ok(())
}

fn main() {}
