"""The REST API (DRF): serializers, viewsets, router and OpenAPI schema."""
