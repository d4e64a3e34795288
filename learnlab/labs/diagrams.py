"""Lab diagrams: an SVG template per name, filled in from the facts the lab's checks report."""

DIAGRAMS = {
    "instance_role": "labs/diagrams/instance_role.svg",
}
