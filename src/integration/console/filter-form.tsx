import type { Child } from "hono/jsx";

/**
 * A list's filters as a plain GET form (works without script): its fields, a Filter button, and a
 * link back to the unfiltered list while a filter is on. Submitting starts again at the first page.
 */
export function FilterForm(props: { action: string; label: string; active: boolean; children: Child }) {
  return (
    <search aria-label={props.label}>
      <form method="get" action={props.action} class="filters">
        {props.children}
        <div class="filter-actions">
          <button type="submit" class="secondary">
            Filter
          </button>
          {props.active ? <a href={props.action}>Clear filters</a> : null}
        </div>
      </form>
    </search>
  );
}

/** A search box of a FilterForm; `value` is the search in force, written back. */
export function SearchField(props: {
  name: string;
  label: string;
  value: string | undefined;
  hint?: string;
}) {
  const id = `filter-${props.name}`;
  return (
    <div class="filter-field">
      <label for={id}>{props.label}</label>
      <input
        id={id}
        name={props.name}
        type="search"
        maxlength={100}
        value={props.value ?? ""}
        placeholder={props.hint}
      />
    </div>
  );
}

/** A choice of a FilterForm: "All" (empty) or one of `options`; `value` is the one in force. */
export function ChoiceField(props: {
  name: string;
  label: string;
  value: string | undefined;
  options: readonly string[];
}) {
  const id = `filter-${props.name}`;
  return (
    <div class="filter-field">
      <label for={id}>{props.label}</label>
      <select id={id} name={props.name}>
        <option value="" selected={props.value === undefined}>
          All
        </option>
        {props.options.map((option) => (
          <option value={option} selected={option === props.value}>
            {option}
          </option>
        ))}
      </select>
    </div>
  );
}
