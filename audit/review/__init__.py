"""The officers' workspace: the review queue, claims, decisions, an item's context, saved
views, the knowledge console, the review page and its socket."""
