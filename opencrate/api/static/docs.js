// The API reference page: renders /api/openapi.json with nothing from the internet.
"use strict";

function block(title, value) {
  const details = document.createElement("details");
  const summary = document.createElement("summary");
  summary.textContent = title;
  const pre = document.createElement("pre");
  pre.textContent = JSON.stringify(value, null, 2);
  details.append(summary, pre);
  return details;
}

async function render() {
  const target = document.getElementById("operations");
  const response = await fetch("/api/openapi.json", { credentials: "same-origin" });
  if (!response.ok) {
    target.textContent = `GET /api/openapi.json answered ${response.status}`;
    return;
  }
  const doc = await response.json();
  target.textContent = "";
  for (const [path, operations] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(operations)) {
      const section = document.createElement("section");
      const heading = document.createElement("h2");
      heading.textContent = `${method.toUpperCase()} ${path}`;
      const summary = document.createElement("p");
      summary.textContent = op.summary || "";
      section.append(heading, summary);
      if (op.description) section.append(block("description", op.description));
      if (op.parameters) section.append(block("parameters", op.parameters));
      if (op.requestBody) section.append(block("request body", op.requestBody));
      section.append(block("responses", op.responses));
      target.append(section);
    }
  }
  target.append(block("schemas", doc.components.schemas));
}

render();
