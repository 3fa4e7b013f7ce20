-- Whether the processor placed the hold with a live key (Stripe's `livemode`).
ALTER TABLE holds ADD COLUMN livemode INTEGER NOT NULL DEFAULT 0;
