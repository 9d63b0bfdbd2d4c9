// Playground page.
"use strict";
