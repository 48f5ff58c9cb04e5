"""Warfarin dosed at clinic visits to keep INR in 2–3: the Hamberg 2007 twin on the Ravvaz avatars, IWPC + Aurora."""
