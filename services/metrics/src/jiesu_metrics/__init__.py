"""metrics: SLA clocks and escalations (催办 → 督办 → 通报), scorecards (三率)."""
