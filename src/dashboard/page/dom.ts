/// <reference lib="dom" />
/**
 * `VNode`s (view.ts) made into DOM elements. Text is only ever set as text (`textContent`,
 * attributes), never parsed as HTML: circuit names come from Redis.
 * @module
 */
import type { VNode } from "./view.js";

/** The element (or text node) of `node`. */
export function toDom(node: VNode | string): Node {
  if (typeof node === "string") return document.createTextNode(node);
  const element = document.createElement(node.tag);
  if (node.cls !== undefined) element.className = node.cls;
  if (node.text !== undefined) element.textContent = node.text;
  for (const [name, value] of Object.entries(node.attrs ?? {})) element.setAttribute(name, value);
  for (const [name, value] of Object.entries(node.data ?? {})) element.dataset[name] = value;
  // Through the CSSOM: the page's Content-Security-Policy forbids style attributes, not this.
  for (const [name, value] of Object.entries(node.style ?? {})) element.style.setProperty(name, value);
  for (const child of node.children ?? []) element.appendChild(toDom(child));
  return element;
}

/** Replaces the children of `parent` with the elements of `nodes`. */
export function fill(parent: Element, nodes: readonly (VNode | string)[]): void {
  parent.replaceChildren(...nodes.map(toDom));
}
