//! Placeholder: the Redis bench (filled in a later step).

fn main() {}
