"""View helpers shared by blueprints (blueprints never import each other)."""
