"""What the Explore pages show: Overview's chart data, Compare's cards and matrix, charts, the glossary and the
URL state of these views."""
