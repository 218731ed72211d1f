// The HTTP API reference: this service's /openapi.json drawn as plain HTML, with the page's own key handling.
// Every text is set with textContent: nothing from the document is parsed as HTML.

import { call, describe, onKeyNeeded, storeKey } from "./api.js";

const $ = (id) => document.getElementById(id);

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

/** A schema reference (#/components/schemas/Name) resolved in the document, one level deep. */
function resolve(doc, schema) {
  if (schema && schema.$ref) return doc.components.schemas[schema.$ref.split("/").pop()] || {};
  return schema || {};
}

function typeOf(schema) {
  if (!schema) return "";
  if (schema.$ref) return schema.$ref.split("/").pop();
  if (schema.anyOf) return schema.anyOf.map(typeOf).join(" | ");
  if (schema.type === "array") return `${typeOf(schema.items)}[]`;
  return schema.format ? `${schema.type} (${schema.format})` : schema.type || "";
}

function fieldsTable(rows) {
  const table = element("table");
  const head = table.createTHead().insertRow();
  for (const title of ["name", "in", "type", "required", "description"]) head.appendChild(element("th", title));
  const body = table.createTBody();
  for (const row of rows) {
    const tr = body.insertRow();
    for (const cell of row) tr.appendChild(element("td", cell));
  }
  return table;
}

function operation(doc, path, method, op) {
  const section = element("section", undefined, "panel");
  section.appendChild(element("h2", `${method.toUpperCase()} ${path}`));
  if (op.summary) section.appendChild(element("p", op.summary));
  if (op.description) section.appendChild(element("p", op.description, "description"));
  const rows = (op.parameters || []).map((p) => [
    p.name, p.in, typeOf(p.schema), p.required ? "yes" : "", p.description || "",
  ]);
  const content = op.requestBody ? op.requestBody.content || {} : {};
  for (const [media, body] of Object.entries(content)) {
    const schema = resolve(doc, body.schema);
    const required = new Set(schema.required || []);
    for (const [name, property] of Object.entries(schema.properties || {})) {
      rows.push([name, media, typeOf(property), required.has(name) ? "yes" : "", property.description || ""]);
    }
  }
  if (rows.length) section.appendChild(fieldsTable(rows));
  const answers = element("ul");
  for (const [status, answer] of Object.entries(op.responses || {})) {
    answers.appendChild(element("li", `${status}: ${answer.description || ""}`));
  }
  section.appendChild(element("h3", "Answers"));
  section.appendChild(answers);
  return section;
}

async function show() {
  $("error").hidden = true;
  const doc = await (await call("/openapi.json")).json();
  const routes = $("routes");
  routes.replaceChildren();
  let count = 0;
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      routes.appendChild(operation(doc, path, method, op));
      count += 1;
    }
  }
  $("summary").textContent = `${doc.info.title} ${doc.info.version}: ${count} operations.`;
  $("key-form").hidden = true;
}

// Without a key the service answers 401: the form asks for one, then the document is read again.
onKeyNeeded(async () => {
  $("key-form").hidden = false;
  $("summary").textContent = "This service needs an API key to show its reference.";
  return null;
});

$("key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  storeKey($("key").value.trim());
  show().catch(fail);
});

function fail(err) {
  if (err.status === 401) return; // the form is showing
  $("error").textContent = describe(err);
  $("error").hidden = false;
}

show().catch(fail);
