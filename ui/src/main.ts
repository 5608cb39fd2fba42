import { mount } from 'svelte';
import App from './App.svelte';
import './app.css';
import { i18n } from './lib/i18n.svelte';

document.documentElement.lang = i18n.lang;
const target = document.getElementById('app');
if (target) mount(App, { target });
