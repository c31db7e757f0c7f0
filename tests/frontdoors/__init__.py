"""One conformance suite over a minimal app per framework (see FRONTDOORS_SPEC)."""
