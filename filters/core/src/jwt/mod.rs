//! JWT and JWKS: verification with pinned algorithms, claims checks, minting, caches (MCP-02, MCP-09, MCP-18).
