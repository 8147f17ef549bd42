"""HTTP and WebSocket endpoints that are not a transport: pages, health, ICE servers,
console subscriptions. Each module registers its routes; ``keys`` names what they share."""
