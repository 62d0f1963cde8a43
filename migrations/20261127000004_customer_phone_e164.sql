-- The customer's phone as typed is kept in customer_phone (free text: never a reason to refuse
-- a checkout); when it reads as an international number it is also stored normalised to E.164.
ALTER TABLE h2s_orders ADD COLUMN IF NOT EXISTS customer_phone_e164 TEXT;
