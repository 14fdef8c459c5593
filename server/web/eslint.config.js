import js from "@eslint/js";
import tseslint from "typescript-eslint";
import globals from "globals";

// Log content is attacker-controlled: it must only ever reach the DOM as
// text. These rules ban every HTML-parsing sink.
const noHTMLSinks = [
  { object: "document", property: "write", message: "Never write HTML: build nodes with h() and text." },
  { object: "document", property: "writeln", message: "Never write HTML: build nodes with h() and text." },
];
const noHTMLSyntax = [
  { selector: "MemberExpression[property.name=/^(innerHTML|outerHTML)$/]", message: "Never use innerHTML/outerHTML: use textContent or h()." },
  { selector: "CallExpression[callee.property.name='insertAdjacentHTML']", message: "Never insert HTML: use h()." },
  { selector: "CallExpression[callee.property.name='createContextualFragment']", message: "Never parse HTML: use h()." },
  { selector: "CallExpression[callee.property.name='setAttribute'][arguments.0.value=/^on/i]", message: "No inline event handlers." },
  { selector: "CallExpression[callee.name='eval']", message: "No eval." },
  { selector: "NewExpression[callee.name='Function']", message: "No new Function." },
];

export default tseslint.config(
  { ignores: ["node_modules/", "../internal/webui/dist/", "dist/"] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    files: ["src/**/*.ts", "vite.config.ts"],
    languageOptions: {
      globals: globals.browser,
      parserOptions: { project: "./tsconfig.json", tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "no-restricted-properties": ["error", ...noHTMLSinks],
      "no-restricted-syntax": ["error", ...noHTMLSyntax],
      "@typescript-eslint/restrict-template-expressions": ["error", { allowNumber: true }],
    },
  },
  {
    files: ["e2e/**/*.mjs", "scripts/**/*.mjs", "eslint.config.js"],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { globals: { ...globals.node, ...globals.browser } },
  },
);
