"""Lightning modules and callbacks for the two training stages."""
