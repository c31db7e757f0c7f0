"""Black-box tests of `cookieguard demo` and the `cookieguard` command."""
