"""CDS Hooks 2.0 (HL7 cds-hooks v2.0.1, https://cds-hooks.hl7.org/2.0/) over the FHIR mapping (dosewise.fhir): the service
catalogue and its prefetch templates (``services``), a hook request's prefetch → one Bundle for ``map_bundle`` and the draft
order (``prefetch``), a Recommendation → cards (``cards``). Pure: the HTTP, the FHIR server fetch and the storage live in the
gateway (dosewise_api.cds)."""
