-- Storefront (issue 28): a product's category, shown as a section of the menu (interactive list and
-- multi-product message) and pushed to Meta's catalog as the item's product_type. '' = no category.
ALTER TABLE products ADD COLUMN IF NOT EXISTS category text NOT NULL DEFAULT '';
