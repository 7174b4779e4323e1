//! Prompt-injection detection engine shared by the prompt guardrail (MCP-01) and the output sanitizer (MCP-13).
