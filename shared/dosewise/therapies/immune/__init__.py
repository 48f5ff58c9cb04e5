"""Innate immune response under drug control: the Stengel 2002 twin, a treat–escalate–stop baseline, outcome metrics."""
