//! PII and secret detectors and maskers (MCP-04, DLP), shared by the scrubber and every audit line.
